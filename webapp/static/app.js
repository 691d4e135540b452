// mediabot cabinet: Telegram's Mini App frame (theme, viewport, back button), login with
// initData, jobs created and watched live, invoices opened in Telegram. No build step.
"use strict";
(function () {
  const tg = window.Telegram && window.Telegram.WebApp;
  const inTelegram = Boolean(tg && tg.initData);
  const body = document.body;
  const page = body.dataset.page || "";
  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));
  const textsNode = $("#texts");
  const texts = textsNode ? JSON.parse(textsNode.textContent) : {};
  const csrf = ($('meta[name="csrf-token"]') || {}).content || "";

  // A counted word lists its forms in CLDR's order of the categories whole numbers take
  // in the language ({n:# credit|# credits}; # is the number), as common/texts does.
  const plurals = new Intl.PluralRules(document.documentElement.lang || "en");
  const categories = (() => {
    const seen = new Set();
    for (let n = 0; n < 1000; n++) seen.add(plurals.select(n));
    return ["zero", "one", "two", "few", "many", "other"].filter((c) => seen.has(c));
  })();

  function agree(value, forms) {
    const index = categories.indexOf(plurals.select(Number(value)));
    const form = forms[index < 0 ? forms.length - 1 : Math.min(index, forms.length - 1)];
    return form.split("#").join(String(value));
  }

  function t(key, figures) {
    let said = texts[key] || key;
    for (const [name, value] of Object.entries(figures || {})) {
      said = said.split("{" + name + "}").join(value);
      said = said.replace(new RegExp("\\{" + name + ":([^}]*)\\}", "g"), (_, forms) => agree(value, forms.split("|")));
    }
    return said;
  }

  async function api(method, url, payload) {
    const options = { method, headers: { "X-CSRF-Token": csrf, Accept: "application/json" }, credentials: "same-origin" };
    if (payload instanceof FormData) options.body = payload;
    else if (payload !== undefined) {
      options.body = JSON.stringify(payload);
      options.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(url, options);
    let answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (!response.ok) {
      const error = new Error((answer && answer.error && answer.error.message) || t("web.js.failed"));
      error.status = response.status;
      error.reason = answer && answer.error && answer.error.reason;
      throw error;
    }
    return answer;
  }

  // --- Telegram's frame -------------------------------------------------------------
  if (inTelegram) {
    document.documentElement.classList.add("tg");
    tg.ready();
    tg.expand();
    if (tg.BackButton) {
      if (body.dataset.back) {
        tg.BackButton.show();
        tg.BackButton.onClick(() => { window.location.href = body.dataset.back; });
      } else {
        tg.BackButton.hide();
      }
    }
  }

  function openExternal(url) {
    if (inTelegram && tg.openLink) tg.openLink(url);
    else window.open(url, "_blank", "noopener");
  }

  // --- login --------------------------------------------------------------------------
  async function login() {
    const status = $("#login-status");
    if (!inTelegram) {
      $("#login-outside").classList.remove("hidden");
      status.classList.add("hidden");
      return;
    }
    const form = new FormData();
    form.append("init_data", tg.initData);
    form.append("next", window.location.pathname + window.location.search);
    try {
      const answer = await api("POST", "/auth/telegram", form);
      window.location.replace(answer.redirect);
    } catch (error) {
      status.textContent = error.message;
      status.classList.add("error");
    }
  }

  // --- copy the referral link ------------------------------------------------------------
  for (const button of $$("[data-copy]")) {
    button.addEventListener("click", async () => {
      const field = $(button.dataset.copy);
      try { await navigator.clipboard.writeText(field.value); }
      catch (e) { field.select(); document.execCommand("copy"); }
      button.textContent = t("web.js.copied");
    });
  }

  // --- language -------------------------------------------------------------------------
  for (const button of $$("[data-language]")) {
    button.addEventListener("click", async () => {
      await api("POST", "/api/me/language", { language: button.dataset.language });
      window.location.reload();
    });
  }

  // --- create a job -----------------------------------------------------------------------
  const MAX_IMAGE_BYTES = 10 * 1024 * 1024, MAX_SIDE = 4096;
  const IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"];

  async function checkImage(file) {
    if (!IMAGE_TYPES.includes(file.type)) return t("web.js.image_type");
    if (file.size > MAX_IMAGE_BYTES) return t("web.js.image_size");
    try {
      const bitmap = await createImageBitmap(file);
      const big = Math.max(bitmap.width, bitmap.height) > MAX_SIDE;
      bitmap.close();
      if (big) return t("web.js.image_side");
    } catch (e) {
      return t("web.js.image_type");
    }
    return "";
  }

  function setupCreate() {
    const form = $("#create-form");
    const offers = JSON.parse($("#offers").textContent);
    const error = $("#create-error");
    const submit = $("button[type=submit]", form);

    function chosen(name) { const c = $(`input[name=${name}]:checked`, form); return c ? c.value : ""; }
    function refresh() {
      const offer = offers.find((o) => o.kind === chosen("kind") && o.quality === chosen("quality"));
      if (!offer) return;
      $("#price").textContent = t("web.js.price", { price: offer.price });
      const ratio = $("#aspect_ratio"), previous = ratio.value;
      ratio.innerHTML = "";
      offer.aspect_ratios.forEach((value) => ratio.add(new Option(value, value, false, value === previous)));
      const duration = $("#duration_seconds");
      duration.innerHTML = "";
      offer.durations_seconds.forEach((value) => duration.add(new Option(t("web.js.seconds", { n: value }), value)));
      $("#duration-field").classList.toggle("hidden", offer.kind !== "video");
      $("#image-field").classList.toggle("hidden", offer.input_image === "none");
      $("#image").required = offer.input_image === "required";
      $("#image-hint").textContent = offer.input_image === "required" ? t("web.js.image_required") : t("web.js.image_optional");
    }
    $$("input[name=kind], input[name=quality]", form).forEach((input) => input.addEventListener("change", refresh));
    refresh();

    $("#image").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      error.textContent = file ? await checkImage(file) : "";
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const data = new FormData(form);
      const file = $("#image").files[0];
      if ($("#image-field").classList.contains("hidden") || !file) data.delete("image");
      else {
        const problem = await checkImage(file);
        if (problem) { error.textContent = problem; return; }
      }
      if ($("#duration-field").classList.contains("hidden")) data.delete("duration_seconds");
      submit.disabled = true;
      try {
        const job = await api("POST", "/api/jobs", data);
        window.location.href = `/cabinet/jobs/${job.id}`;
      } catch (failure) {
        error.textContent = failure.message;
        submit.disabled = false;
        if (failure.status !== 503) $("input[name=client_key]", form).value = crypto.randomUUID();
      }
    });
  }

  // --- a job, live ----------------------------------------------------------------------------
  const TERMINAL = ["succeeded", "failed", "cancelled"];

  function secondsUntil(iso) {
    if (!iso) return null;
    return Math.max(0, Math.round((new Date(iso).getTime() - Date.now()) / 1000));
  }

  function showUpdate(update) {
    const job = update.job;
    const card = $("#job");
    card.dataset.status = job.status;
    const status = $("#job-status");
    status.className = `status ${job.status}`;
    status.textContent = t(`web.status.${job.status}`);
    $("#job-progress").style.width = `${job.status === "succeeded" ? 100 : job.progress}%`;
    let line = "";
    if (job.status === "queued") {
      line = t("web.js.queue_position", { n: update.queue_position + 1 });
      const start = secondsUntil(update.estimated_start_at);
      if (start !== null) line += " · " + t("web.js.starts_in", { n: start });
    } else if (job.status === "running") {
      line = t("web.js.progress", { n: job.progress });
      const finish = secondsUntil(update.estimated_finish_at);
      if (finish !== null) line += " · " + t("web.js.ready_in", { n: finish });
    } else if (job.status === "failed") {
      line = job.failure ? t("failure." + job.failure) : job.error || t("web.status.failed");
    } else if (job.status === "cancelled") {
      line = t("web.js.refunded", { n: job.cost });
    }
    $("#job-detail").textContent = line;
    $("#cancel").classList.toggle("hidden", TERMINAL.includes(job.status));
  }

  async function showResults(jobId) {
    const answer = await api("GET", `/api/jobs/${jobId}/results`);
    const box = $("#result");
    box.innerHTML = "";
    for (const file of answer.urls) {
      const media = document.createElement(file.mime_type.startsWith("video/") ? "video" : "img");
      media.src = file.url;
      if (media.tagName === "VIDEO") { media.controls = true; media.playsInline = true; }
      else media.alt = t("web.js.result");
      box.appendChild(media);
      const link = document.createElement("a");
      link.href = file.url;
      link.className = "button secondary block download";
      link.textContent = t("web.js.download");
      link.target = "_blank";
      link.rel = "noopener";
      link.addEventListener("click", (event) => {
        if (inTelegram && tg.downloadFile && tg.isVersionAtLeast && tg.isVersionAtLeast("8.0")) {
          event.preventDefault();
          tg.downloadFile({ url: file.url, file_name: `mediabot-${jobId}.${file.mime_type.split("/")[1]}` });
        } else if (inTelegram) {
          event.preventDefault();
          openExternal(file.url);
        }
      });
      box.appendChild(link);
    }
    $("#send").classList.remove("hidden");
  }

  function setupJob() {
    const card = $("#job");
    const jobId = card.dataset.id;
    const note = $("#job-note");
    const bar = $("#job-progress");
    bar.style.width = `${bar.dataset.progress}%`;
    if (!TERMINAL.includes(card.dataset.status)) {
      const source = new EventSource(`/api/jobs/${jobId}/events`);
      const onEvent = (message) => {
        const update = JSON.parse(message.data);
        showUpdate(update);
        if (TERMINAL.includes(update.job.status)) {
          source.close();
          if (update.job.status === "succeeded") showResults(jobId).catch((e) => { note.textContent = e.message; });
        }
      };
      source.addEventListener("update", onEvent);
      source.addEventListener("end", onEvent);
    }
    $("#cancel").addEventListener("click", async () => {
      try { showUpdate({ job: await api("POST", `/api/jobs/${jobId}/cancel`), queue_position: 0 }); }
      catch (e) { note.textContent = e.message; }
    });
    $("#send").addEventListener("click", async (event) => {
      event.target.disabled = true;
      try {
        await api("POST", `/api/jobs/${jobId}/send`);
        note.textContent = t("web.js.sent");
      } catch (e) {
        note.textContent = e.message;
        event.target.disabled = false;
      }
    });
  }

  // --- buy --------------------------------------------------------------------------------------
  async function waitForPayment(before) {
    const note = $("#buy-note");
    note.textContent = t("web.js.payment_wait");
    note.className = "banner";
    for (let i = 0; i < 60; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const me = await api("GET", "/api/me");
      if (me.balance !== before.balance || me.tier !== before.tier || me.pro_until !== before.pro_until) {
        $$("[data-balance]").forEach((node) => { node.textContent = me.balance; });
        $$("[data-balance-word]").forEach((node) => { node.textContent = t("web.credits.word", { n: me.balance }); });
        $$("[data-tier]").forEach((node) => { node.textContent = t(`bot.tier.${me.tier}`); });
        note.textContent = t("web.js.payment_done", { balance: me.balance });
        note.className = "banner good";
        return;
      }
    }
    note.textContent = t("web.js.payment_slow");
  }

  function setupBuy() {
    const note = $("#buy-note");
    for (const button of $$("[data-product]")) {
      button.addEventListener("click", async () => {
        note.textContent = "";
        note.className = "";
        button.disabled = true;
        try {
          const before = await api("GET", "/api/me");
          const invoice = await api("POST", "/api/invoices", { product_id: button.dataset.product });
          if (inTelegram && tg.openInvoice) {
            tg.openInvoice(invoice.link, (status) => {
              button.disabled = false;
              if (status === "paid") waitForPayment(before);
              else if (status === "failed") { note.textContent = t("web.js.payment_failed"); note.className = "banner bad"; }
              else if (status === "pending") waitForPayment(before);
            });
          } else {
            button.disabled = false;
            openExternal(invoice.link);
            waitForPayment(before);
          }
        } catch (e) {
          note.textContent = e.message;
          note.className = "banner bad";
          button.disabled = false;
        }
      });
    }
  }

  // --- admin forms ------------------------------------------------------------------------------
  for (const form of $$("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  if (page === "login") login();
  if (page === "create") setupCreate();
  if (page === "job") setupJob();
  if (page === "buy") setupBuy();
})();
