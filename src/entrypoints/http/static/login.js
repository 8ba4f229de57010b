import { api, refreshSession } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");
const email = document.getElementById("email");

// A page opened after the short access token lapsed lands here: if the longer-lived
// session is still good, go straight back instead of asking for the password.
if (!new URLSearchParams(location.search).has("signed_out")) {
  refreshSession().then((ok) => ok && location.replace(form.dataset.next || "/inbox"));
}

email.value = localStorage.getItem("wa.lastEmail") || "";
if (email.value) document.getElementById("password").focus();

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const data = { email: email.value.trim(), password: form.password.value };
  if (!data.email || !data.password) {
    error.textContent = "Enter your email and password.";
    error.hidden = false;
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    await api("/api/auth/login", { method: "POST", body: data, auth: false });
    localStorage.setItem("wa.lastEmail", data.email);
    location.assign(form.dataset.next || "/inbox");
  } catch (err) {
    error.textContent = err.status === 401 ? "That email and password don't match." : err.message;
    error.hidden = false;
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});
