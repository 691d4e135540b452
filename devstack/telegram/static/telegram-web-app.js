// A stand-in for Telegram's telegram-web-app.js, for Mini Apps opened from the local web chat
// (and the browser tests), where telegram.org cannot be reached. Like the real script it reads
// the launch parameters from the URL fragment (tgWebAppData, tgWebAppThemeParams, …), keeps
// them for later pages of the same tab, sets the --tg-theme-* and --tg-viewport-* CSS
// variables, and exposes window.Telegram.WebApp. openInvoice asks the web chat that opened the
// tab (the web_app_open_invoice event the web clients use); the chat pays and answers with
// invoice_closed. Calls are recorded in window.Telegram.WebApp.calls for tests.
"use strict";
(function () {
  const KEY = "__telegram__initParams";
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  let params = {};
  if (fragment.has("tgWebAppData")) {
    params = Object.fromEntries(fragment.entries());
    try { sessionStorage.setItem(KEY, JSON.stringify(params)); } catch (e) { /* private mode */ }
  } else {
    try { params = JSON.parse(sessionStorage.getItem(KEY) || "{}"); } catch (e) { params = {}; }
  }
  const initData = params.tgWebAppData || "";
  const unsafe = {};
  for (const [name, value] of new URLSearchParams(initData).entries()) {
    try { unsafe[name] = name === "user" || name === "receiver" || name === "chat" ? JSON.parse(value) : value; }
    catch (e) { unsafe[name] = value; }
  }
  let themeParams = {};
  try { themeParams = JSON.parse(params.tgWebAppThemeParams || "{}"); } catch (e) { themeParams = {}; }
  const version = params.tgWebAppVersion || "6.0";
  const root = document.documentElement.style;
  for (const [name, value] of Object.entries(themeParams)) {
    root.setProperty(`--tg-theme-${name.replace(/_/g, "-")}`, value);
  }
  function setViewport() {
    root.setProperty("--tg-viewport-height", `${window.innerHeight}px`);
    root.setProperty("--tg-viewport-stable-height", `${window.innerHeight}px`);
  }
  setViewport();
  window.addEventListener("resize", setViewport);

  function brightness(hex) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
    if (!m) return 255;
    return 0.299 * parseInt(m[1], 16) + 0.587 * parseInt(m[2], 16) + 0.114 * parseInt(m[3], 16);
  }

  const calls = [];
  const handlers = {};
  const invoices = {};
  function record(name, ...args) { calls.push([name, ...args]); }
  function emit(name, payload) { for (const cb of handlers[name] || []) cb.call(WebApp, payload); }
  function host() { return window.opener || (window.parent !== window ? window.parent : null); }
  function postEvent(eventType, eventData) {
    const target = host();
    if (target) target.postMessage(JSON.stringify({ eventType, eventData }), "*");
    return Boolean(target);
  }

  window.addEventListener("message", (event) => {
    let data;
    try { data = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch (e) { return; }
    if (!data || data.eventType !== "invoice_closed") return;
    const { slug, status } = data.eventData || {};
    const callback = invoices[slug];
    delete invoices[slug];
    emit("invoiceClosed", { url: `https://t.me/$${slug}`, status });
    if (callback) callback(status);
  });

  const backClicks = [];
  const BackButton = {
    isVisible: false,
    show() { this.isVisible = true; record("BackButton.show"); return this; },
    hide() { this.isVisible = false; record("BackButton.hide"); return this; },
    onClick(cb) { backClicks.push(cb); return this; },
    offClick(cb) { const i = backClicks.indexOf(cb); if (i >= 0) backClicks.splice(i, 1); return this; },
    click() { backClicks.forEach((cb) => cb()); },
  };
  const MainButton = {
    text: "", isVisible: false,
    setText(text) { this.text = text; return this; },
    show() { this.isVisible = true; return this; },
    hide() { this.isVisible = false; return this; },
    onClick() { return this; }, offClick() { return this; },
    enable() { return this; }, disable() { return this; },
  };
  const noop = () => {};

  const WebApp = {
    initData,
    initDataUnsafe: unsafe,
    version,
    platform: params.tgWebAppPlatform || "unknown",
    colorScheme: brightness(themeParams.bg_color) < 128 ? "dark" : "light",
    themeParams,
    isExpanded: false,
    viewportHeight: window.innerHeight,
    viewportStableHeight: window.innerHeight,
    BackButton,
    MainButton,
    HapticFeedback: { impactOccurred: noop, notificationOccurred: noop, selectionChanged: noop },
    calls,
    isVersionAtLeast(wanted) {
      const have = version.split(".").map(Number), want = String(wanted).split(".").map(Number);
      for (let i = 0; i < Math.max(have.length, want.length); i++) {
        if ((have[i] || 0) !== (want[i] || 0)) return (have[i] || 0) > (want[i] || 0);
      }
      return true;
    },
    ready() { record("ready"); },
    expand() { this.isExpanded = true; record("expand"); },
    close() { record("close"); window.close(); },
    onEvent(name, cb) { (handlers[name] = handlers[name] || []).push(cb); },
    offEvent(name, cb) { handlers[name] = (handlers[name] || []).filter((h) => h !== cb); },
    sendData(data) { record("sendData", data); },
    openLink(url) { record("openLink", url); window.open(url, "_blank", "noopener"); },
    openTelegramLink(url) { record("openTelegramLink", url); window.open(url, "_blank", "noopener"); },
    downloadFile(file, cb) {
      record("downloadFile", file.url, file.file_name);
      window.open(file.url, "_blank", "noopener");
      if (cb) cb(true);
    },
    openInvoice(url, cb) {
      record("openInvoice", url);
      const slug = String(url).replace(/^https:\/\/t\.me\/\$|^https:\/\/t\.me\/invoice\//, "");
      invoices[slug] = cb;
      if (!postEvent("web_app_open_invoice", { slug })) {
        delete invoices[slug];
        if (cb) cb("failed");
      }
    },
    showAlert(message, cb) { window.alert(message); if (cb) cb(); },
    showConfirm(message, cb) { const ok = window.confirm(message); if (cb) cb(ok); },
  };
  window.Telegram = window.Telegram || {};
  window.Telegram.WebApp = WebApp;
})();
