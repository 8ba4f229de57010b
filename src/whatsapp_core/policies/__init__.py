"""Pure business rules of the inbox, each a small set of functions over plain data.

Tested with hypothesis for their laws (tests/unit/policies): the 24-hour window,
the RBAC matrix, the outbound status order and the template lifecycle.
"""

from whatsapp_core.policies.access import (
    API_KEY_ACTIONS,
    MUTATIONS,
    PERMISSIONS,
    Action,
    Role,
    can,
    minimum_role,
    require,
)
from whatsapp_core.policies.status import (
    MessageStatus,
    advance,
    final_status,
    parse_meta_status,
)
from whatsapp_core.policies.templates import (
    BUTTON_TYPES,
    TemplateButton,
    TemplateCategory,
    TemplateComponents,
    TemplateEvent,
    TemplateStatus,
    apply_meta_event,
    edit,
    is_sendable,
    placeholders,
    render,
    render_header,
    submit,
    validate_definition,
    validate_parameters,
    validate_template_name,
)
from whatsapp_core.policies.window import (
    SERVICE_WINDOW,
    WindowState,
    latest_inbound,
    require_free_form_allowed,
    window_state,
)

__all__ = [
    "API_KEY_ACTIONS",
    "BUTTON_TYPES",
    "MUTATIONS",
    "PERMISSIONS",
    "SERVICE_WINDOW",
    "Action",
    "MessageStatus",
    "Role",
    "TemplateButton",
    "TemplateCategory",
    "TemplateComponents",
    "TemplateEvent",
    "TemplateStatus",
    "WindowState",
    "advance",
    "apply_meta_event",
    "can",
    "edit",
    "final_status",
    "is_sendable",
    "latest_inbound",
    "minimum_role",
    "parse_meta_status",
    "placeholders",
    "render",
    "render_header",
    "require",
    "require_free_form_allowed",
    "submit",
    "validate_definition",
    "validate_parameters",
    "validate_template_name",
    "window_state",
]
