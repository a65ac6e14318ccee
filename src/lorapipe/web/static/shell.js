// lorapipe dashboard shell: the drawer on a phone (menu button, Escape closes), the notifications
// bell and its panel, marking notifications read, and small page helpers: in-page confirmation,
// show/hide toggles, copy buttons. Plain JS, loaded after app.js (uses its `lp`).
"use strict";

// An in-page confirmation next to `button`: resolves true on "yes", false on cancel or Escape.
function confirmInline(button, question, yesLabel) {
  return new Promise((resolve) => {
    const box = document.createElement("span");
    box.className = "inline-confirm";
    box.setAttribute("role", "group");
    const text = document.createElement("span");
    text.textContent = question;
    const yes = document.createElement("button");
    yes.type = "button";
    yes.className = "danger solid";
    yes.textContent = yesLabel;
    const no = document.createElement("button");
    no.type = "button";
    no.textContent = "Cancel";
    box.append(text, yes, no);
    button.hidden = true;
    button.after(box);
    yes.focus();
    const done = (ok) => {
      box.remove();
      button.hidden = false;
      if (!ok) button.focus();
      resolve(ok);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    box.addEventListener("keydown", (e) => { if (e.key === "Escape") { e.stopPropagation(); done(false); } });
  });
}

function setUnread(count) {
  const n = Math.max(0, count);
  const bell = document.getElementById("bell");
  const badge = document.getElementById("bell-count");
  if (badge) { badge.textContent = String(n); badge.hidden = n === 0; }
  if (bell) bell.setAttribute("aria-label", `Notifications, ${n} unread`);
  document.querySelectorAll(".sidenav .count").forEach((el) => { el.textContent = String(n); el.hidden = n === 0; });
  const page = document.getElementById("unread-count");
  if (page) page.textContent = String(n);
  if (n === 0) document.querySelectorAll("[data-action=read-all-notifications]").forEach((b) => { b.hidden = true; });
}

function unreadNow() {
  const badge = document.getElementById("bell-count");
  return badge ? Number(badge.textContent) || 0 : 0;
}

// Every copy of one notification on the page (bell panel, full list) shows it read.
function showRead(id) {
  let changed = false;
  document.querySelectorAll(`[data-note="${CSS.escape(id)}"]`).forEach((li) => {
    changed = changed || li.classList.contains("unread");
    li.classList.remove("unread");
    li.querySelectorAll("[data-action=read-notification]").forEach((b) => b.remove());
    li.querySelectorAll("[data-unread]").forEach((a) => { a.dataset.unread = "false"; });
  });
  return changed;
}

async function readNotification(id) {
  await lp.api(`/api/notifications/${encodeURIComponent(id)}/read`, { method: "POST" });
  if (showRead(id)) setUnread(unreadNow() - 1);
}

function initShell() {
  const menu = document.getElementById("menu-button");
  const scrim = document.getElementById("scrim");
  const sidebar = document.getElementById("sidebar");
  const bell = document.getElementById("bell");
  const panel = document.getElementById("notif-panel");
  if (!menu || !sidebar) return;

  const drawerOpen = () => document.body.classList.contains("drawer-open");
  const setDrawer = (open, focusBack) => {
    document.body.classList.toggle("drawer-open", open);
    menu.setAttribute("aria-expanded", String(open));
    scrim.hidden = !open;
    // The page behind the open drawer is out of reach (Tab stays in the drawer and the top bar).
    document.getElementById("main").inert = open;
    if (open) sidebar.querySelector("a").focus();
    else if (focusBack) menu.focus();
  };
  const setPanel = (open, focusBack) => {
    panel.hidden = !open;
    bell.setAttribute("aria-expanded", String(open));
    if (open) (panel.querySelector("a, button:not([hidden])") || panel).focus();
    else if (focusBack) bell.focus();
  };
  menu.addEventListener("click", () => setDrawer(!drawerOpen(), true));
  scrim.addEventListener("click", () => setDrawer(false, true));
  bell.addEventListener("click", (e) => { e.stopPropagation(); setPanel(panel.hidden, false); });
  document.addEventListener("click", (e) => {
    if (!panel.hidden && !panel.contains(e.target)) setPanel(false, false);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!panel.hidden) setPanel(false, true);
    else if (drawerOpen()) setDrawer(false, true);
  });
  // Leaving the phone layout with the drawer open must not leave the page dimmed.
  window.matchMedia("(min-width: 900px)").addEventListener("change", (m) => { if (m.matches) setDrawer(false, false); });

  // Following a notification marks it read first.
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a[data-note-id]");
    if (!link || link.dataset.unread !== "true" || e.ctrlKey || e.metaKey || e.shiftKey) return;
    e.preventDefault();
    readNotification(link.dataset.noteId).catch(() => {}).finally(() => { location.href = link.href; });
  });

  // Show/hide toggles (in-page forms and confirmations).
  document.addEventListener("click", (e) => {
    const toggle = e.target.closest("[data-toggle]");
    if (!toggle) return;
    const target = document.getElementById(toggle.dataset.toggle);
    if (!target) return;
    target.hidden = !target.hidden;
    document.querySelectorAll(`[data-toggle="${CSS.escape(target.id)}"][aria-expanded]`)
      .forEach((b) => b.setAttribute("aria-expanded", String(!target.hidden)));
    if (!target.hidden) (target.querySelector("input, button.danger, button") || target).focus();
  });

  document.addEventListener("click", (e) => {
    const copy = e.target.closest("[data-copy]");
    if (!copy) return;
    const source = document.getElementById(copy.dataset.copy);
    const text = source ? source.textContent : "";
    const selectIt = () => {
      const range = document.createRange();
      range.selectNodeContents(source);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => { copy.textContent = "Copied"; }, selectIt);
    } else {
      selectIt();
      copy.textContent = "Selected: press Ctrl+C";
    }
  });
}

const accountActions = {
  "read-notification": (button) => readNotification(button.dataset.id),
  "read-all-notifications": async () => {
    await lp.api("/api/notifications/read-all", { method: "POST" });
    document.querySelectorAll(".note.unread").forEach((li) => showRead(li.dataset.note));
    setUnread(0);
  },
  "reload": async () => { location.reload(); },
};
