// Shared by the pages: the bearer token (kept in localStorage; "#token=..." in the URL sets it),
// authorised fetch, label colours.
const COLORS = {neutral: "#9aa0a6", happy: "#f4b400", sad: "#4285f4", angry: "#db4437", fearful: "#8e24aa",
                disgusted: "#0f9d58", surprised: "#ff7043", uncertain: "#cfd3d7"};
(function () {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) { localStorage.setItem("affectlens-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname); }
})();
function token() { return localStorage.getItem("affectlens-token") || ""; }
function authHeaders() { return token() ? {Authorization: "Bearer " + token()} : {}; }
async function api(path, opts = {}) {
  const r = await fetch(path, {...opts, headers: {...(opts.headers || {}), ...authHeaders()}});
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) {}
    const err = new Error(msg); err.status = r.status; throw err;
  }
  return r;
}
function setupToken() {
  const box = document.getElementById("token");
  if (!box) return;
  box.value = token();
  box.addEventListener("change", () => { localStorage.setItem("affectlens-token", box.value.trim()); location.reload(); });
}
function esc(s) { return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
function chip(label, conf) {
  if (!label) return "–";
  return `<span class="chip" style="background:${COLORS[label] || "#777"}">${esc(label)}${conf != null ? " " + Math.round(conf * 100) + "%" : ""}</span>`;
}
function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
document.addEventListener("DOMContentLoaded", setupToken);
