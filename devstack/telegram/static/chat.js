// The web chat of the local Telegram: one person talking to one bot through /_local/.
"use strict";

const $ = (selector) => document.querySelector(selector);
const state = { bot: "", user: "", seq: 0, generation: 0, chat: null, actionTimer: 0, notes: [] };

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return node;
}

let toastTimer = 0;
function toast(text) {
  const box = $("#toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
}

function fail(error) {
  toast(`⚠ ${error.message || error}`);
}

// --- formatted text (entity offsets are UTF-16 code units, as JavaScript strings) ---------

const TAGS = {
  bold: "b", italic: "i", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  spoiler: "span", blockquote: "blockquote", expandable_blockquote: "blockquote",
};

function formatted(text, entities) {
  if (!text) return [];
  entities = entities || [];
  const cuts = new Set([0, text.length]);
  for (const e of entities) { cuts.add(e.offset); cuts.add(e.offset + e.length); }
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const parts = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [start, end] = [points[i], points[i + 1]];
    let node = document.createTextNode(text.slice(start, end));
    const covering = entities.filter((e) => e.offset <= start && end <= e.offset + e.length);
    for (const e of covering.reverse()) {
      const piece = text.slice(e.offset, e.offset + e.length);
      let wrapper;
      if (e.type === "text_link" || e.type === "url") {
        const href = e.type === "url" ? (/^https?:/i.test(piece) ? piece : `http://${piece}`) : e.url;
        wrapper = el("a", { href, target: "_blank", rel: "noopener" });
      } else if (e.type === "bot_command") {
        wrapper = el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); sendText(piece); } });
      } else if (TAGS[e.type]) {
        wrapper = el(TAGS[e.type], e.type === "spoiler" ? { class: "spoiler" } : {});
      } else {
        continue;
      }
      wrapper.append(node);
      node = wrapper;
    }
    parts.push(node);
  }
  return parts;
}

// --- rendering ------------------------------------------------------------------------

const fileUrl = (fileId) => `/_local/files/${encodeURIComponent(fileId)}`;

function media(m) {
  const out = [];
  if (m.photo) out.push(el("img", { src: fileUrl(m.photo[m.photo.length - 1].file_id), alt: "photo" }));
  if (m.animation) {
    out.push(el("video", { src: fileUrl(m.animation.file_id), autoplay: "", loop: "", muted: "", playsinline: "" }));
  } else if (m.video) {
    const poster = m.video.thumbnail ? fileUrl(m.video.thumbnail.file_id) : undefined;
    out.push(el("video", { src: fileUrl(m.video.file_id), controls: "", preload: "metadata", poster }));
  } else if (m.document) {
    const kb = Math.max(1, Math.round((m.document.file_size || 0) / 1024));
    out.push(el("a", { class: "doc", href: fileUrl(m.document.file_id), download: m.document.file_name || "file" },
      `📄 ${m.document.file_name || "file"} · ${kb} KB`));
  }
  return out;
}

function service(m) {
  if (m.successful_payment) {
    const p = m.successful_payment;
    const until = p.subscription_expiration_date
      ? ` · subscription until ${new Date(p.subscription_expiration_date * 1000).toLocaleDateString()}` : "";
    return `You paid ⭐${p.total_amount}${until}`;
  }
  if (m.refunded_payment) return `⭐${m.refunded_payment.total_amount} refunded to you`;
  if (m.new_chat_members) return `${m.from.first_name} added ${m.new_chat_members.map((u) => u.first_name).join(", ")}`;
  return "";
}

function invoiceCard(m) {
  const i = m.invoice;
  return el("div", { class: "invoice" }, el("b", {}, i.title), i.description);
}

function keyboardFor(record) {
  const m = record.message;
  let rows = m.reply_markup && m.reply_markup.inline_keyboard;
  if (!rows && m.invoice) rows = [[{ text: `Pay ⭐${m.invoice.total_amount}`, pay: true }]];
  if (rows && record.paid) rows = [[{ text: "Paid ✓", paid: true }]];
  if (!rows) return null;
  return el("div", { class: "inline-kb" }, rows.map((row) => el("div", { class: "kb-row" },
    row.map((button) => el("button", {
      type: "button",
      class: button.pay ? "pay" : "",
      disabled: button.paid ? "" : undefined,
      onclick: () => pressInline(m, button).catch(fail),
    }, button.text)))));
}

function bubble(record) {
  const m = record.message;
  const mine = !record.outgoing;
  const text = service(m);
  const body = [];
  if (m.forward_origin) {
    const who = m.forward_origin.sender_user ? m.forward_origin.sender_user.first_name : "someone";
    body.push(el("div", { class: "reply" }, `Forwarded from ${who}`));
  }
  if (m.reply_to_message) {
    const quoted = m.reply_to_message.text || m.reply_to_message.caption || "media";
    body.push(el("div", { class: "reply" }, quoted.slice(0, 80)));
  }
  body.push(...media(m));
  if (m.invoice) body.push(invoiceCard(m));
  if (text) body.push(el("div", { class: "service" }, text));
  if (m.text) body.push(el("div", { class: "text" }, formatted(m.text, m.entities)));
  if (m.caption) body.push(el("div", { class: "text" }, formatted(m.caption, m.caption_entities)));
  const time = new Date(m.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  body.push(el("div", { class: "meta" }, m.edit_date ? `edited · ${time}` : time));
  const kb = keyboardFor(record);
  if (kb) body.push(kb);
  return el("div", { class: `msg ${mine ? "out" : "in"}`, "data-id": m.message_id }, body);
}

function renderChat(chat) {
  state.chat = chat;
  const list = $("#messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  const items = chat.messages.filter((r) => !r.deleted)
    .map((r) => ({ time: r.message.date, node: bubble(r) }))
    .concat(state.notes.map((n) => ({ time: n.time, node: el("div", { class: "system" }, n.text) })));
  items.sort((a, b) => a.time - b.time);  // stable: a note stays after the messages of its second
  list.replaceChildren(...items.map((item) => item.node));
  if (atBottom) list.scrollTop = list.scrollHeight;
  $("#block").textContent = chat.blocked ? "Unblock" : "Block";
  renderReplyKeyboard(chat.keyboard);
  showAction(chat.action);
  $("#menu").title = chat.menu_button.type === "web_app" ? chat.menu_button.text : "Commands";
}

function renderReplyKeyboard(keyboard) {
  const box = $("#keyboard");
  box.replaceChildren();
  if (!keyboard) return;
  for (const row of keyboard.keyboard) {
    box.append(el("div", { class: "kb-row" }, row.map((button) => el("button", {
      type: "button",
      onclick: () => {
        if (keyboard.one_time_keyboard) box.replaceChildren();
        sendText(button.text);
      },
    }, button.text))));
  }
}

function showAction(action) {
  const names = {
    typing: "typing", upload_photo: "sending a photo", upload_video: "sending a video",
    record_video: "recording a video", upload_document: "sending a file",
  };
  clearTimeout(state.actionTimer);
  $("#action").textContent = action ? `${botName()} is ${names[action] || action}…` : "";
  if (action) state.actionTimer = setTimeout(() => { $("#action").textContent = ""; }, 5000);
}

function note(text, time) {
  // System lines (flood limits, failed payments) are kept and shown among the messages.
  state.notes.push({ time: Math.floor(time), text });
  const list = $("#messages");
  list.append(el("div", { class: "system" }, text));
  list.scrollTop = list.scrollHeight;
}

const botName = () => $("#bot").selectedOptions[0]?.textContent || "the bot";

// --- actions -----------------------------------------------------------------------

async function sendText(text) {
  if (!text.trim() || !state.bot || !state.user) return;
  await post(`/_local/bots/${state.bot}/messages`, { user_id: state.user, text }).catch(fail);
}

async function sendFile(file, kind) {
  if (!file || !state.bot || !state.user) return;
  const form = new FormData();
  form.append("user_id", state.user);
  form.append("kind", kind === "document" && file.type.startsWith("video/") ? "video" : kind);
  form.append("file", file, file.name);
  await api(`/_local/bots/${state.bot}/messages`, { method: "POST", body: form }).catch(fail);
}

async function pay(body, label) {
  if (!confirm(`Pay ${label}? (pretend Stars)`)) return "cancelled";
  const outcome = await post(`/_local/bots/${state.bot}/pay`, { user_id: state.user, ...body });
  const words = {
    paid: "Payment done ✓",
    declined: `The bot declined: ${outcome.error_message}`,
    timeout: "The bot did not confirm the payment within 10 s",
    refused: outcome.error_message,
  };
  toast(words[outcome.status] || outcome.status);
  return outcome.status === "paid" ? "paid" : "failed";
}

// A Mini App this chat opened asks to pay an invoice link (Telegram.WebApp.openInvoice, the
// web_app_open_invoice event of Telegram's web clients); it hears back as invoice_closed.
window.addEventListener("message", (event) => {
  let data;
  try { data = typeof event.data === "string" ? JSON.parse(event.data) : event.data; } catch (e) { return; }
  if (!data || data.eventType !== "web_app_open_invoice" || !event.source) return;
  const slug = String((data.eventData || {}).slug || "");
  const answer = (status) => event.source.postMessage(
    JSON.stringify({ eventType: "invoice_closed", eventData: { slug, status } }), "*");
  pay({ link: `https://t.me/$${slug}` }, "the invoice").then(answer, (error) => { fail(error); answer("failed"); });
});

async function pressInline(m, button) {
  if (button.pay) return pay({ message_id: m.message_id }, `⭐${m.invoice.total_amount}`);
  if (button.callback_data !== undefined) {
    const result = await post(`/_local/bots/${state.bot}/press`, {
      user_id: state.user, chat_id: m.chat.id, message_id: m.message_id,
      callback_data: button.callback_data, wait: 15,
    });
    const answer = result.answer;
    if (answer && answer.text) (answer.show_alert ? alert : toast)(answer.text);
    if (answer && answer.url) window.open(answer.url, "_blank");
    return;
  }
  if (button.web_app) return openWebApp(button.web_app.url);
  if (button.url) {
    const link = /^https:\/\/t\.me\/\$(.+)$/.exec(button.url);
    if (link) return pay({ link: button.url }, "the invoice");
    window.open(button.url, "_blank", "noopener");
    return;
  }
  if (button.copy_text) {
    await navigator.clipboard.writeText(button.copy_text.text);
    toast("Copied");
  }
}

async function openWebApp(url) {
  // The Mini App opens in a new tab with tgWebAppData signed with the bot's token.
  const opened = window.open("about:blank", "_blank");
  const { url: signed } = await post(`/_local/bots/${state.bot}/web_app`, { user_id: state.user, url });
  if (opened) opened.location = signed;
  else window.location.href = signed;
}

// --- loading and live updates --------------------------------------------------------

async function refresh() {
  if (!state.bot || !state.user) return;
  renderChat(await api(`/_local/bots/${state.bot}/chats/${state.user}`));
}

async function follow() {
  const generation = ++state.generation;
  while (generation === state.generation) {
    try {
      const query = `after=${state.seq}&timeout=25&bot=${state.bot}&chat_id=${state.user}`;
      const found = await api(`/_local/events?${query}`);
      if (generation !== state.generation) return;
      state.seq = found.last_seq;
      let changed = false;
      for (const e of found.events) {
        if (["message", "edit", "delete", "blocked", "unblocked"].includes(e.kind)) changed = true;
        if (e.kind === "action") showAction(e.action);
        if (e.kind === "rate_limited") {
          note(`the bot hit the flood limit (${e.method}, retry after ${e.retry_after} s)`, e.time);
        }
        if (e.kind === "payment_failed" && e.reason === "timeout") {
          note("payment failed: the bot did not answer the pre-checkout query", e.time);
        }
      }
      if (changed) await refresh();
    } catch (error) {
      $("#status").textContent = `connection lost (${error.message}); retrying…`;
      await new Promise((done) => setTimeout(done, 2000));
      $("#status").textContent = statusLine();
    }
  }
}

const statusLine = () => `Bot API and TELEGRAM_API_URL: ${location.origin}`;

function fill(select, items, label, wanted) {
  select.replaceChildren(...items.map((item) => el("option", { value: item.id }, label(item))));
  if (items.some((item) => String(item.id) === String(wanted))) select.value = wanted;
  return select.value;
}

async function loadBots() {
  const bots = await api("/_local/bots");
  state.bot = fill($("#bot"), bots, (b) => `@${b.username}`, localStorage.getItem("bot"));
  if (!bots.length) {
    $("#status").textContent = "No bot yet: start one with TELEGRAM_API_URL=" + location.origin;
    setTimeout(() => loadBots().then(start).catch(fail), 2000);
  }
}

async function loadUsers() {
  const users = await api("/_local/users");
  const label = (u) => `${u.first_name}${u.username ? " @" + u.username : ""} (${u.id})`;
  state.user = fill($("#user"), users, label, localStorage.getItem("user"));
  if (!users.length) openUserForm();
}

function openUserForm() {
  const form = $("#user-form");
  form.elements.id.value = 7000000000 + Math.floor(Math.random() * 999999999);
  form.hidden = false;
}

async function start() {
  if (!state.bot || !state.user) return;
  localStorage.setItem("bot", state.bot);
  localStorage.setItem("user", state.user);
  state.notes = [];
  $("#status").textContent = statusLine();
  await refresh();
  state.seq = state.chat ? state.chat.last_seq : 0;
  follow();
}

function wire() {
  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#text");
    sendText(input.value);
    input.value = "";
  });
  $("#photo").addEventListener("change", (e) => { sendFile(e.target.files[0], "photo"); e.target.value = ""; });
  $("#document").addEventListener("change", (e) => { sendFile(e.target.files[0], "document"); e.target.value = ""; });
  $("#bot").addEventListener("change", (e) => { state.bot = e.target.value; start().catch(fail); });
  $("#user").addEventListener("change", (e) => { state.user = e.target.value; start().catch(fail); });
  $("#new-user").addEventListener("click", openUserForm);
  $("#cancel-user").addEventListener("click", () => { $("#user-form").hidden = true; });
  $("#user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    try {
      const user = await post("/_local/users", { ...data, id: Number(data.id) });
      localStorage.setItem("user", user.id);
      event.target.hidden = true;
      await loadUsers();
      await start();
    } catch (error) { fail(error); }
  });
  $("#block").addEventListener("click", () => {
    const blocked = !(state.chat && state.chat.blocked);
    post(`/_local/bots/${state.bot}/block`, { user_id: state.user, blocked }).then(refresh).catch(fail);
  });
  $("#menu").addEventListener("click", () => {
    const chat = state.chat;
    if (!chat) return;
    if (chat.menu_button.type === "web_app") { openWebApp(chat.menu_button.web_app.url).catch(fail); return; }
    const box = $("#commands");
    box.hidden = !box.hidden;
    box.replaceChildren(...(chat.commands.length ? chat.commands : [{ command: "start", description: "" }])
      .map((c) => el("button", { type: "button", onclick: () => { box.hidden = true; sendText(`/${c.command}`); } },
        `/${c.command}  ${c.description}`)));
  });
}

wire();
Promise.all([loadBots(), loadUsers()]).then(start).catch(fail);
