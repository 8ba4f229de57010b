import { api } from "./api.js";

// The invitation token travels in the URL fragment (#...), which browsers never send
// to a server: it stays out of access logs and Referer headers.
// Read when it is used: a second invitation link opened in the same tab changes only
// the fragment, and the page is not loaded again.
const currentToken = () => decodeURIComponent(location.hash.slice(1));
const form = document.getElementById("accept-form");
const error = document.getElementById("accept-error");
const submit = document.getElementById("accept-submit");

function show(message) {
  error.textContent = message;
  error.hidden = false;
}

function checkLink() {
  if (currentToken()) error.hidden = true;
  else show("This page needs the full link from your invitation.");
}
checkLink();
window.addEventListener("hashchange", checkLink);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = currentToken();
  if (!token) {
    show("This page needs the full link from your invitation.");
    return;
  }
  const data = { token, name: form.name.value.trim(), password: form.password.value };
  if (!data.name || data.password.length < 10) {
    show("Enter your name and a password of at least 10 characters.");
    return;
  }
  submit.disabled = true;
  submit.textContent = "Joining…";
  try {
    await api("/api/auth/accept", { method: "POST", body: data, auth: false });
    history.replaceState(null, "", "/accept");
    location.assign("/inbox");
  } catch (err) {
    show(err.message);
    submit.disabled = false;
    submit.textContent = "Join";
  }
});
