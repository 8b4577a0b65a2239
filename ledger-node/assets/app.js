// The transparency page: hash routes over the node's JSON API, and the receipt check done in
// the browser (WebCrypto SHA-256 and Ed25519) against the log key the node wrote into the page.
// No library, no build step: the node serves this file as it is.
"use strict";
(function () {
  const SVG_NS = "http://www.w3.org/2000/svg";
  const PROGRAMMES = ["elderly", "children", "education", "medical", "disability", "poverty", "general"];
  const PROG_COLOR = {
    elderly: "#c2410c",
    children: "#be185d",
    education: "#1d4ed8",
    medical: "#047857",
    disability: "#6d28d9",
    poverty: "#a16207",
    general: "#475569",
  };
  const STATE_COLOR = {
    in_fund: "#a7b0ba",
    in_case: "#7cc08e",
    disbursed: "#1f7a3a",
    refunded: "#d97706",
    corrected: "#9b8fb8",
  };
  const COLOR_DISBURSED = "#1f7a3a";
  const COLOR_HELD_CASES = "#7cc08e";
  const COLOR_HELD_FUNDS = "#a7b0ba";
  const COLOR_EARMARKED = "#b45309";
  const COLOR_OTHER = "#8a8f96";

  const params = new URLSearchParams(location.search);
  // Test hook: `?tamper=proof|entry|signature|key` corrupts that part of a receipt in the
  // browser, so a test (or a sceptical reader) can watch the check fail.
  const TAMPER = params.get("tamper");
  const LOG_KEY = metaContent("log-key");
  const enc = new TextEncoder();
  const dec = new TextDecoder("utf-8", { fatal: true });

  let lang = pickLang();
  let main;
  let generation = 0;
  // The optional donor check stays in memory: never in the URL, never sent.
  const secrets = { salt: "", identity: "" };
  let lastSankeyWidth = 0;

  function metaContent(name) {
    const el = document.querySelector(`meta[name="${name}"]`);
    return el ? el.getAttribute("content") || "" : "";
  }

  function pickLang() {
    const q = params.get("lang");
    if (q === "en" || q === "zh") {
      store(q);
      return q;
    }
    try {
      const s = localStorage.getItem("lang");
      if (s === "en" || s === "zh") return s;
    } catch (_) {
      /* storage may be off; the default is fine */
    }
    return "zh";
  }

  function store(l) {
    try {
      localStorage.setItem("lang", l);
    } catch (_) {
      /* not persisted; the URL still carries it */
    }
  }

  function t(key, p) {
    const table = window.I18N[lang] || window.I18N.zh;
    let s = table[key];
    if (s === undefined) s = window.I18N.zh[key];
    if (s === undefined) s = key;
    if (p) s = s.replace(/\{(\w+)\}/g, (m, k) => (p[k] === undefined || p[k] === null ? m : String(p[k])));
    return s;
  }
  const has = (key) => window.I18N[lang] && window.I18N[lang][key] !== undefined;
  const label = (prefix, v) => (v && has(prefix + v) ? t(prefix + v) : v || "");
  const progName = (p) => label("prog_", p);
  const kindName = (k) => (k ? label("kind_", String(k).replace(/\./g, "_")) : "");

  // ---------------------------------------------------------------- DOM building
  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  function append(el, kids) {
    for (const k of kids.flat(Infinity)) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof window.Node ? k : document.createTextNode(String(k)));
    }
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  function sv(tag, attrs, ...kids) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    append(el, kids);
    return el;
  }
  // Ledger text is whatever the charity wrote (here: Chinese); mark it so screen readers
  // read it in the right language whatever the page's language is.
  function dataText(s) {
    if (s === null || s === undefined) return "";
    s = String(s);
    return /[\u3400-\u9fff]/.test(s) ? h("span", { lang: "zh-CN" }, s) : s;
  }
  const link = (href, ...kids) => h("a", { href }, ...kids);
  const code = (s, cls) => h("code", { class: cls || "break" }, s);
  const section = (id, title, ...kids) =>
    h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title), ...kids);
  const dl = (rows) =>
    h("dl", { class: "dl" }, rows.filter(Boolean).map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  const swatch = (color) =>
    sv("svg", { width: 12, height: 12, viewBox: "0 0 12 12", "aria-hidden": "true", focusable: "false" },
      sv("rect", { width: 12, height: 12, rx: 2, fill: color }));

  function table(cls, caption, head, rows) {
    return h("div", { class: "table-wrap" },
      h("table", { class: cls || "stack" },
        caption ? h("caption", null, caption) : null,
        h("thead", null, h("tr", null, head.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
        h("tbody", null, rows.map((r) =>
          h("tr", null, r.map((cell, i) => h("td", {
            class: [head[i].num ? "num" : "", head[i].cls || ""].join(" ").trim() || null,
            "data-label": head[i].label,
          }, Array.isArray(cell) ? h("span", null, cell) : cell)))))));
  }

  // ---------------------------------------------------------------- formatting
  const group = (digits) => digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  // Fen to yuan with two decimals, from the integer: no float rounding.
  function yuan(fen) {
    if (fen === null || fen === undefined || !Number.isFinite(Number(fen))) return "—";
    let n = Number(fen);
    const neg = n < 0;
    n = Math.abs(n);
    return (neg ? "−" : "") + "¥" + group(String(Math.floor(n / 100))) + "." + String(n % 100).padStart(2, "0");
  }
  // Chart labels only: tables and figures carry the exact amount.
  function yuanShort(fen) {
    const y = Number(fen) / 100;
    if (lang === "zh") {
      if (y >= 1e8) return "¥" + (y / 1e8).toFixed(2) + "亿";
      if (y >= 1e4) return "¥" + (y / 1e4).toFixed(1) + "万";
      return "¥" + y.toFixed(0);
    }
    if (y >= 1e6) return "¥" + (y / 1e6).toFixed(2) + "M";
    if (y >= 1e3) return "¥" + (y / 1e3).toFixed(1) + "K";
    return "¥" + y.toFixed(0);
  }
  const count = (n) => group(String(n || 0));
  // Entry times are UTC; the county reads them in UTC+08:00.
  function cst(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return iso || "";
    return new Date(d.getTime() + 8 * 3600 * 1000).toISOString().slice(0, 16).replace("T", " ");
  }
  // An author's `at` is written in the county's own offset: its date is the local date.
  const day = (at) => (typeof at === "string" ? at.slice(0, 10) : "");
  function amountOf(x) {
    if (!x) return "";
    if (x.amount_fen !== undefined) return yuan(x.amount_fen);
    if (x.goods) return `${count(x.goods.quantity)} × ${x.goods.item}${x.goods.unit ? " (" + x.goods.unit + ")" : ""}`;
    return "";
  }
  const shortHash = (s) => (s && s.length > 20 ? s.slice(0, 12) + "…" + s.slice(-6) : s || "");
  function trunc(s, n) {
    s = String(s || "");
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  // ---------------------------------------------------------------- data
  async function api(path, as) {
    const r = await fetch(path, { headers: { Accept: as === "text" ? "text/plain" : "application/json" } });
    if (!r.ok) {
      let msg = `HTTP ${r.status}`;
      try {
        const j = await r.json();
        msg = j.message || j.error || msg;
      } catch (_) {
        /* not JSON */
      }
      const e = new Error(msg);
      e.status = r.status;
      throw e;
    }
    if (as === "text") return r.text();
    if (as === "bytes") return new Uint8Array(await r.arrayBuffer());
    return r.json();
  }
  const q = encodeURIComponent;
  let summaryCache = null;
  async function summary() {
    if (summaryCache && Date.now() - summaryCache.at < 10000) return summaryCache.value;
    const value = await api("/v1/summary");
    summaryCache = { at: Date.now(), value };
    return value;
  }

  // ---------------------------------------------------------------- crypto (WebCrypto)
  class StepError extends Error {}
  function concat(...parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  function subtle() {
    if (!window.crypto || !window.crypto.subtle) throw new StepError(t("err_insecure"));
    return window.crypto.subtle;
  }
  async function sha256(...parts) {
    return new Uint8Array(await subtle().digest("SHA-256", concat(...parts)));
  }
  function b64e(u) {
    let s = "";
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
    return btoa(s);
  }
  // Canonical standard base64 only (SPEC.md §1): re-encoding must give the same text.
  function b64d(s) {
    if (typeof s !== "string" || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error("base64");
    const bin = atob(s);
    const u = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
    if (b64e(u) !== s) throw new Error("non-canonical base64");
    return u;
  }
  const hex = (u) => Array.from(u, (b) => b.toString(16).padStart(2, "0")).join("");
  function unhex(s) {
    if (typeof s !== "string" || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error("hex");
    const u = new Uint8Array(s.length / 2);
    for (let i = 0; i < u.length; i++) u[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
    return u;
  }
  function same(a, b) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  // A C2SP verifier key: `<name>+<8 hex key hash>+<base64(type || public key)>`.
  async function parseVkey(vkey, type) {
    const i = vkey.indexOf("+");
    if (i <= 0) throw new StepError(t("err_bad_key"));
    const name = vkey.slice(0, i);
    const rest = vkey.slice(i + 1);
    if (rest.length < 10 || rest[8] !== "+" || !/^[0-9a-f]{8}$/.test(rest.slice(0, 8))) throw new StepError(t("err_bad_key"));
    let raw;
    try {
      raw = b64d(rest.slice(9));
    } catch (_) {
      throw new StepError(t("err_bad_key"));
    }
    if (raw.length !== 33 || raw[0] !== type) throw new StepError(t("err_bad_key"));
    const pub = raw.slice(1);
    const keyHash = (await sha256(enc.encode(name + "\n"), Uint8Array.of(type), pub)).slice(0, 4);
    if (hex(keyHash) !== rest.slice(0, 8)) throw new StepError(t("err_bad_key"));
    return { name, keyHash, pub };
  }

  // A checkpoint note: three body lines (no extension lines), a blank line, signature lines.
  function parseNote(text) {
    const bad = () => new StepError(t("err_cp_format"));
    if (typeof text !== "string") throw bad();
    const sep = text.indexOf("\n\n");
    if (sep < 0) throw bad();
    const body = text.slice(0, sep + 1);
    const lines = body.split("\n");
    if (lines.length !== 4 || lines[3] !== "" || !/^(0|[1-9][0-9]*)$/.test(lines[1])) throw bad();
    let root;
    try {
      root = b64d(lines[2]);
    } catch (_) {
      throw bad();
    }
    if (root.length !== 32) throw bad();
    const sigText = text.slice(sep + 2);
    if (!sigText.endsWith("\n")) throw bad();
    const sigs = [];
    for (const line of sigText.slice(0, -1).split("\n")) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw bad();
      try {
        sigs.push({ name: m[1], bytes: b64d(m[2]), line });
      } catch (_) {
        throw bad();
      }
    }
    return { text, body, origin: lines[0], size: Number(lines[1]), rootB64: lines[2], root, sigs };
  }

  async function ed25519Verify(pub, sig, msg) {
    let key;
    try {
      key = await subtle().importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
    } catch (e) {
      if (e instanceof StepError) throw e;
      throw new StepError(t("err_webcrypto", { msg: e && e.message }));
    }
    return subtle().verify({ name: "Ed25519" }, key, sig, msg);
  }

  // The log's signature on a checkpoint, by the key embedded in this page.
  async function checkNoteSignature(note, key) {
    if (note.origin !== key.name) throw new StepError(t("err_cp_origin", { got: note.origin, want: key.name }));
    const sig = note.sigs.find((s) => s.name === key.name && s.bytes.length === 68 && same(s.bytes.slice(0, 4), key.keyHash));
    if (!sig) throw new StepError(t("err_no_sig"));
    if (!(await ed25519Verify(key.pub, sig.bytes.slice(4), enc.encode(note.body)))) throw new StepError(t("err_sig"));
    return "Ed25519 · " + hex(key.keyHash);
  }

  // A witness cosignature (C2SP tlog-cosignature): key hash, 8-byte timestamp, signature over
  // "cosignature/v1\ntime <ts>\n" and the checkpoint body.
  async function checkCosignature(note, sig, vkey) {
    const key = await parseVkey(vkey, 0x04);
    if (key.name !== sig.name || sig.bytes.length !== 76 || !same(sig.bytes.slice(0, 4), key.keyHash)) return false;
    let ts = 0n;
    for (const b of sig.bytes.slice(4, 12)) ts = (ts << 8n) | BigInt(b);
    const msg = enc.encode(`cosignature/v1\ntime ${ts}\n` + note.body);
    return ed25519Verify(key.pub, sig.bytes.slice(12), msg);
  }

  // RFC 9162 §2.1.3.2: the root an inclusion proof leads to. Plain arithmetic, not bit
  // operators, so sizes beyond 2^32 work.
  async function rootFromInclusion(index, size, leaf, proof) {
    if (!(index < size)) throw new StepError(t("err_proof_len"));
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) throw new StepError(t("err_proof_len"));
      if (fn % 2 === 1 || fn === sn) {
        r = await sha256(Uint8Array.of(1), p, r);
        if (fn % 2 === 0) {
          while (fn % 2 === 0 && fn !== 0) {
            fn = Math.floor(fn / 2);
            sn = Math.floor(sn / 2);
          }
        }
      } else {
        r = await sha256(Uint8Array.of(1), r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new StepError(t("err_proof_len"));
    return r;
  }

  // Runs check steps in order; the first failure stops the rest. Updates `list` and `result`.
  async function runSteps(steps, list, result, okText) {
    const items = steps.map((s) => {
      const st = h("span", { class: "st skipped" }, t("step_skip"));
      const detail = h("span", { class: "step-detail" });
      const li = h("li", { "data-step": s.key, "data-status": "skip" }, h("span", { class: "step-name" }, s.name), st, detail);
      list.append(li);
      return { li, st, detail };
    });
    result.className = "result pending";
    result.setAttribute("data-status", "running");
    result.textContent = t("loading");
    for (let i = 0; i < steps.length; i++) {
      const { li, st, detail } = items[i];
      try {
        const info = await steps[i].run();
        li.setAttribute("data-status", "ok");
        st.className = "st ok";
        st.textContent = t("step_ok");
        if (info) detail.textContent = info;
      } catch (e) {
        const msg = e instanceof StepError ? e.message : String((e && e.message) || e);
        li.setAttribute("data-status", "fail");
        st.className = "st fail";
        st.textContent = t("step_fail");
        detail.textContent = msg;
        result.className = "result fail";
        result.setAttribute("data-status", "fail");
        result.setAttribute("data-failed-step", steps[i].key);
        result.textContent = t("result_fail", { n: i + 1, step: steps[i].name, msg });
        return false;
      }
    }
    result.className = "result pass";
    result.setAttribute("data-status", "pass");
    result.textContent = okText;
    return true;
  }

  function parseEntry(bytes) {
    let entry;
    let body;
    try {
      entry = JSON.parse(dec.decode(bytes));
      body = JSON.parse(dec.decode(b64d(entry.envelope.payload)));
    } catch (_) {
      throw new StepError(t("err_entry_parse"));
    }
    return { entry, body };
  }

  function tamper(receipt) {
    const r = Object.assign({}, receipt);
    if (TAMPER === "proof" && r.proof.length > 0) {
      const p = b64d(r.proof[0]);
      p[0] ^= 0x01;
      r.proof = [b64e(p)].concat(r.proof.slice(1));
    } else if (TAMPER === "entry") {
      // One hex digit of `prev`: the entry still parses and names the same gift, but its
      // leaf hash, and so the root, change.
      const s = dec.decode(b64d(r.entry_b64));
      const i = s.indexOf('"prev":"') + 8;
      const c = s[i] === "0" ? "1" : "0";
      r.entry_b64 = b64e(enc.encode(s.slice(0, i) + c + s.slice(i + 1)));
    } else if (TAMPER === "signature") {
      const lines = r.checkpoint.split("\n");
      const i = lines.findIndex((l) => l.startsWith("\u2014 "));
      if (i >= 0) {
        const parts = lines[i].split(" ");
        const sig = b64d(parts[2]);
        sig[sig.length - 1] ^= 0x01;
        parts[2] = b64e(sig);
        lines[i] = parts.join(" ");
        r.checkpoint = lines.join("\n");
      }
    } else if (TAMPER === "key") {
      r.log_key = r.log_key.replace(/\+[0-9a-f]{8}\+/, "+00000000+");
    }
    return r;
  }

  // The steps that check a receipt: entry bytes → leaf → root → signed checkpoint.
  function receiptSteps(id, receipt, donation, ctx) {
    return [
      {
        key: "key",
        name: t("step_key"),
        run: async () => {
          if (!LOG_KEY) throw new StepError(t("err_no_key"));
          if (receipt.log_key !== LOG_KEY) throw new StepError(t("err_key_mismatch", { got: receipt.log_key, want: LOG_KEY }));
          ctx.key = await parseVkey(LOG_KEY, 0x01);
          return LOG_KEY;
        },
      },
      {
        key: "entry",
        name: t("step_entry"),
        run: async () => {
          let bytes;
          try {
            bytes = b64d(receipt.entry_b64);
          } catch (_) {
            throw new StepError(t("err_entry_parse"));
          }
          const { entry, body } = parseEntry(bytes);
          if (entry.seq !== receipt.seq) throw new StepError(t("err_entry_seq", { got: entry.seq, want: receipt.seq }));
          if (body.id !== id) throw new StepError(t("err_entry_id", { got: body.id, want: id }));
          if (body.kind !== "donation.received") throw new StepError(t("err_entry_kind", { kind: body.kind }));
          // What this page shows about the gift must be what the signed entry says.
          if (donation && JSON.stringify([donation.amount_fen, donation.goods, donation.fund, donation.case, donation.at]) !==
            JSON.stringify([body.amount_fen, body.goods, body.fund, body.case, body.at])) {
            throw new StepError(t("err_entry_id", { got: JSON.stringify(body), want: id }));
          }
          ctx.bytes = bytes;
          ctx.body = body;
          return `#${entry.seq} · ${bytes.length} bytes`;
        },
      },
      {
        key: "leaf",
        name: t("step_leaf"),
        run: async () => {
          ctx.leaf = await sha256(Uint8Array.of(0), ctx.bytes);
          return hex(ctx.leaf);
        },
      },
      {
        key: "inclusion",
        name: t("step_inclusion"),
        run: async () => {
          ctx.note = parseNote(receipt.checkpoint);
          if (ctx.note.size !== receipt.size) throw new StepError(t("err_size", { got: ctx.note.size, want: receipt.size }));
          let proof;
          try {
            proof = receipt.proof.map(b64d);
          } catch (_) {
            throw new StepError(t("err_proof_len"));
          }
          if (proof.some((p) => p.length !== 32)) throw new StepError(t("err_proof_len"));
          const root = await rootFromInclusion(receipt.seq, receipt.size, ctx.leaf, proof);
          if (!same(root, ctx.note.root)) throw new StepError(t("err_root", { got: b64e(root), want: ctx.note.rootB64 }));
          return `${proof.length} × SHA-256 → ${ctx.note.rootB64}`;
        },
      },
      {
        key: "signature",
        name: t("step_signature"),
        run: () => checkNoteSignature(ctx.note, ctx.key),
      },
    ];
  }

  async function commitmentStep(body) {
    const salt = secrets.salt.trim().toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(salt)) throw new StepError(t("err_salt"));
    if (!body.donor) throw new StepError(t("err_no_donor"));
    const identity = secrets.identity.trim().toUpperCase();
    const c = await sha256(enc.encode("charity-ledger/commit/v1\n"), unhex(salt), enc.encode(identity));
    if (hex(c) !== body.donor) throw new StepError(t("err_commitment"));
    return hex(c);
  }

  // ---------------------------------------------------------------- links
  function eventHref(e) {
    switch (e.kind) {
      case "donation.received":
        return "#/verify/" + q(e.id);
      case "donation.refunded":
      case "donation.corrected":
      case "earmark.redirected":
        return e.donation ? "#/verify/" + q(e.donation) : null;
      case "fund.opened":
        return "#/fund/" + q(e.id);
      case "fund.closed":
        return "#/fund/" + q(e.fund);
      case "case.opened":
        return "#/case/" + q(e.id);
      case "case.closed":
      case "allocation.made":
      case "disbursement.made":
        return e.case ? "#/case/" + q(e.case) : null;
      case "complaint.filed":
        return "#/complaint/" + q(e.id);
      case "complaint.updated":
      case "complaint.resolved":
        return "#/complaint/" + q(e.complaint);
      case "audit.planned":
        return "#/audit/" + q(e.id);
      case "audit.sampled":
        return "#/audit/" + q(e.plan);
      default:
        return null;
    }
  }
  const findHref = (id) => "#/find/" + q(id);
  const idLink = (id) => (id ? link(findHref(id), code(id, "mono")) : "");

  function eventTable(rows, caption) {
    const head = [
      { label: t("col_time"), cls: "c-time" },
      { label: t("col_kind"), cls: "c-kind" },
      { label: t("col_id"), cls: "c-id" },
      { label: t("col_amount"), num: true, cls: "c-amt" },
      { label: t("col_programme"), cls: "c-prog" },
      { label: t("col_proof"), cls: "c-proof" },
    ];
    return table("stack events", caption, head, rows.map((e) => [
      cst(e.time),
      kindName(e.kind),
      [link(eventHref(e) || "#/entry/" + e.seq, code(e.id || "#" + e.seq, "mono")),
        e.case && e.kind !== "case.opened" ? h("span", { class: "muted small" }, " → " + e.case) : ""],
      amountOf(e),
      e.programme ? [progDot(e.programme), " ", progName(e.programme)] : "",
      link("#/entry/" + e.seq, t("proof_link"), " #" + e.seq),
    ]));
  }
  function progDot(p) {
    return sv("svg", { width: 10, height: 10, viewBox: "0 0 10 10", "aria-hidden": "true", focusable: "false", class: "dot" },
      sv("rect", { width: 10, height: 10, rx: 2, fill: PROG_COLOR[p] || COLOR_OTHER }));
  }

  // ---------------------------------------------------------------- charts
  // Horizontal stacked bar; segments [{value, color, label}] scaled to `max`.
  function stackedBar(segments, max, aria) {
    const W = 1000;
    let x = 0;
    const rects = [];
    for (const s of segments) {
      const w = max > 0 ? (s.value / max) * W : 0;
      if (w > 0) {
        rects.push(sv("rect", { x: x.toFixed(2), y: 0, width: Math.max(w, 1.5).toFixed(2), height: 18, fill: s.color },
          sv("title", null, `${s.label}: ${yuan(s.value)}`)));
      }
      x += w;
    }
    return sv("svg", { class: "bar", viewBox: `0 0 ${W} 18`, preserveAspectRatio: "none", role: "img", "aria-label": aria }, rects);
  }
  function legend(items) {
    return h("ul", { class: "legend" }, items.map(([color, text]) => h("li", null, swatch(color), text)));
  }

  // Funds → programmes → people, as a Sankey picture. Cash only; node heights are amounts.
  function sankey(s, width) {
    const W = Math.max(300, Math.min(width, 1100));
    const narrow = W < 560;
    const progs = s.programmes.filter((p) => p.allocated_fen + p.earmarked_fen + p.disbursed_fen + p.held_in_cases_fen > 0);
    const funds = s.funds.filter((f) => f.in_fen > 0);
    const earmarked = progs.reduce((a, p) => a + p.earmarked_fen, 0);
    const total = funds.reduce((a, f) => a + f.in_fen, 0) + earmarked;
    if (total <= 0) return null;
    const pi = (p) => PROGRAMMES.indexOf(p);
    funds.sort((a, b) => pi(a.programme) - pi(b.programme) || b.in_fen - a.in_fen);
    const keep = narrow ? 0.04 : 0.015;
    const big = funds.filter((f) => f.in_fen >= total * keep);
    const small = funds.filter((f) => f.in_fen < total * keep);
    const bigIds = new Set(big.map((f) => f.id));
    const nodes = new Map();
    const addNode = (key, col, name, color) => nodes.set(key, { key, col, name, color, inV: 0, outV: 0, ins: [], outs: [] });
    for (const f of big) addNode("f:" + f.id, 0, f.name, PROG_COLOR[f.programme] || COLOR_OTHER);
    if (small.length) addNode("f:other", 0, t("node_other_funds", { n: small.length }), COLOR_OTHER);
    if (earmarked > 0) addNode("earmarked", 0, t("node_earmarked"), COLOR_EARMARKED);
    for (const p of progs) addNode("p:" + p.programme, 1, progName(p.programme), PROG_COLOR[p.programme]);
    addNode("heldfunds", 1, t("node_held_funds"), COLOR_HELD_FUNDS);
    addNode("disbursed", 2, t("node_disbursed"), COLOR_DISBURSED);
    addNode("heldcases", 2, t("node_held_cases"), COLOR_HELD_CASES);
    const links = new Map();
    const addLink = (a, b, v) => {
      if (!(v > 0) || !nodes.has(a) || !nodes.has(b)) return;
      const k = a + "→" + b;
      if (!links.has(k)) links.set(k, { a: nodes.get(a), b: nodes.get(b), v: 0 });
      links.get(k).v += v;
    };
    const fundKey = (id) => (bigIds.has(id) ? "f:" + id : "f:other");
    for (const fl of s.flows) addLink(fundKey(fl.fund), "p:" + fl.programme, fl.amount_fen);
    for (const f of funds) addLink(fundKey(f.id), "heldfunds", f.cash_fen);
    for (const p of progs) {
      addLink("earmarked", "p:" + p.programme, p.earmarked_fen);
      addLink("p:" + p.programme, "disbursed", p.disbursed_fen);
      addLink("p:" + p.programme, "heldcases", p.held_in_cases_fen);
    }
    for (const l of links.values()) {
      l.a.outV += l.v;
      l.b.inV += l.v;
      l.a.outs.push(l);
      l.b.ins.push(l);
    }
    for (const n of nodes.values()) n.v = Math.max(n.inV, n.outV);
    const cols = [0, 1, 2].map((c) => [...nodes.values()].filter((n) => n.col === c && n.v > 0));
    const gap = narrow ? 8 : 10;
    const maxN = Math.max(...cols.map((c) => c.length));
    const H = Math.max(narrow ? 380 : 360, Math.min(680, maxN * (narrow ? 30 : 34) + 20));
    const top = 6;
    const scale = Math.min(...cols.map((c) => (H - top * 2 - gap * (c.length - 1)) / c.reduce((a, n) => a + n.v, 0)));
    const nodeW = narrow ? 8 : 12;
    const xs = [0, (W - nodeW) / 2, W - nodeW];
    for (let c = 0; c < 3; c++) {
      const col = cols[c];
      const used = col.reduce((a, n) => a + n.v * scale, 0) + gap * (col.length - 1);
      let y = top + (H - top * 2 - used) / 2;
      for (const n of col) {
        n.x = xs[c];
        n.y = y;
        n.h = Math.max(n.v * scale, 1);
        y += n.h + gap;
      }
    }
    for (const n of nodes.values()) {
      n.outs.sort((p, r) => p.b.y - r.b.y);
      n.ins.sort((p, r) => p.a.y - r.a.y);
      let so = n.y;
      for (const l of n.outs) {
        l.sy = so;
        so += l.v * scale;
      }
      let ti = n.y;
      for (const l of n.ins) {
        l.ty = ti;
        ti += l.v * scale;
      }
    }
    const paths = [];
    for (const l of links.values()) {
      const w = l.v * scale;
      const x0 = l.a.x + nodeW;
      const x1 = l.b.x;
      const xm = (x0 + x1) / 2;
      const d = `M${x0},${l.sy}C${xm},${l.sy} ${xm},${l.ty} ${x1},${l.ty}L${x1},${l.ty + w}C${xm},${l.ty + w} ${xm},${l.sy + w} ${x0},${l.sy + w}Z`;
      paths.push(sv("path", { class: "link", d, fill: l.a.color },
        sv("title", null, `${l.a.name} → ${l.b.name}: ${yuan(l.v)}`)));
    }
    const labels = [];
    const maxChars = narrow ? (lang === "zh" ? 7 : 12) : lang === "zh" ? 14 : 26;
    for (const n of nodes.values()) {
      if (!(n.v > 0)) continue;
      const right = n.col === 2;
      const x = right ? n.x - 5 : n.x + nodeW + 5;
      const anchor = right ? "end" : "start";
      const cy = n.y + n.h / 2;
      labels.push(sv("rect", { x: n.x, y: n.y, width: nodeW, height: n.h, fill: n.color }, sv("title", null, `${n.name}: ${yuan(n.v)}`)));
      if (n.h < 9 && n.col !== 1) continue;
      const twoLines = n.h >= 24 || n.col !== 0;
      labels.push(sv("text", { x, y: twoLines ? cy - 3 : cy + 4, "text-anchor": anchor }, trunc(n.name, maxChars)));
      if (twoLines) labels.push(sv("text", { x, y: cy + 11, "text-anchor": anchor, class: "amt" }, yuanShort(n.v)));
    }
    return sv("svg", { class: "sankey", viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": t("flow_aria", { funds: funds.length }) },
      sv("title", null, t("flow_aria", { funds: funds.length })), paths, labels);
  }

  function flowTable(s) {
    const names = new Map(s.funds.map((f) => [f.id, f.name]));
    const rows = [];
    for (const fl of [...s.flows].sort((a, b) => b.amount_fen - a.amount_fen)) {
      rows.push([link("#/fund/" + q(fl.fund), dataText(names.get(fl.fund) || fl.fund)), progName(fl.programme), yuan(fl.amount_fen)]);
    }
    for (const p of s.programmes) {
      if (p.earmarked_fen > 0) rows.push([t("node_earmarked"), progName(p.programme), yuan(p.earmarked_fen)]);
    }
    for (const p of s.programmes) {
      if (p.disbursed_fen > 0) rows.push([progName(p.programme), t("node_disbursed"), yuan(p.disbursed_fen)]);
      if (p.held_in_cases_fen > 0) rows.push([progName(p.programme), t("node_held_cases"), yuan(p.held_in_cases_fen)]);
    }
    return table("stack", null, [{ label: t("flow_from") }, { label: t("flow_to") }, { label: t("flow_amount"), num: true }], rows);
  }

  // ---------------------------------------------------------------- views
  function lookupForm(idPrefix, value) {
    const input = h("input", {
      type: "text", id: idPrefix + "-id", name: "receipt", autocomplete: "off", autocapitalize: "off", spellcheck: "false",
      placeholder: t("receipt_placeholder"), value: value || "", required: true,
    });
    return h("form", {
      class: "lookup", role: "search", "aria-label": t("hero_lookup"),
      onsubmit: (ev) => {
        ev.preventDefault();
        const id = input.value.trim();
        if (id) go("#/verify/" + q(id));
      },
    },
    h("div", { class: "field" }, h("label", { for: idPrefix + "-id" }, t("receipt_code")), input),
    h("button", { class: "primary", type: "submit", id: idPrefix + "-submit" }, t("btn_lookup")));
  }

  function findForm() {
    const input = h("input", { type: "text", id: "find-id", autocomplete: "off", spellcheck: "false", required: true });
    return h("form", {
      class: "lookup", role: "search", "aria-label": t("find_any"),
      onsubmit: (ev) => {
        ev.preventDefault();
        const id = input.value.trim();
        if (/^[0-9]+$/.test(id)) go("#/entry/" + id);
        else if (id) go(findHref(id));
      },
    },
    h("div", { class: "field" }, h("label", { for: "find-id" }, t("find_any_label")), input),
    h("button", { class: "primary", type: "submit" }, t("btn_find")));
  }

  function examples(s) {
    const ex = s.examples || {};
    const items = [
      ["disbursed", "ex_disbursed"],
      ["earmarked", "ex_earmarked"],
      ["in_fund", "ex_in_fund"],
      ["refunded", "ex_refunded"],
    ].filter(([k]) => ex[k]);
    if (!items.length) return null;
    return h("div", { class: "examples" }, h("p", null, t("try_examples")),
      h("ul", null, items.map(([k, label]) => h("li", null,
        link("#/verify/" + q(ex[k]), code(ex[k], "mono")), " ", h("span", { class: "muted" }, t(label))))));
  }

  function figCard(key, cls, labelKey, fen, note) {
    return h("div", { class: "fig-card " + cls },
      h("p", { class: "fig-label", "data-fig-label": key }, t(labelKey)),
      h("p", { class: "fig", "data-fig": key, "data-fen": fen }, yuan(fen)),
      h("p", { class: "fig-note" }, note));
  }

  function totalsSection(s) {
    const T = s.totals;
    const allocated = T.allocated_fen - T.revoked_fen;
    const disbursed = T.disbursed_fen - T.returned_fen;
    const held = T.held_in_funds_fen + T.held_in_cases_fen;
    const instalments = s.programmes.reduce((a, p) => a + p.disbursements, 0);
    return section("h-totals", t("totals_title"),
      h("div", { class: "figs" },
        figCard("received", "c-received", "fig_received", T.received_fen, t("fig_received_note", { opening: yuan(T.opening_fen) })),
        figCard("allocated", "c-allocated", "fig_allocated", allocated, t("fig_allocated_note", { revoked: yuan(T.revoked_fen) })),
        figCard("disbursed", "c-disbursed", "fig_disbursed", disbursed, t("fig_disbursed_note", { returned: yuan(T.returned_fen) })),
        figCard("held", "c-held", "fig_held", held, t("fig_held_note", { funds: yuan(T.held_in_funds_fen), cases: yuan(T.held_in_cases_fen) }))),
      h("p", { class: "small muted" }, t("fig_small", {
        refunded: yuan(T.refunded_fen), corrected: yuan(T.corrected_fen), entries: count(s.size),
        cases: count(s.counts.cases), instalments: count(instalments),
      })));
  }

  function flowSection(s) {
    const holder = h("div", { class: "chart-wrap", id: "sankey" });
    const draw = () => {
      const w = holder.clientWidth || main.clientWidth || 900;
      lastSankeyWidth = w;
      const svg = sankey(s, w);
      holder.replaceChildren(svg || "");
    };
    holder.redraw = draw;
    return {
      node: section("h-flow", t("flow_title"),
        h("p", { class: "muted small" }, t("flow_desc")),
        h("figure", null, holder),
        h("details", null, h("summary", null, t("flow_table")), flowTable(s))),
      after: draw,
      holder,
    };
  }

  function programmeSection(s) {
    const rows = s.programmes.map((p) => ({ p, total: p.disbursed_fen + p.held_in_cases_fen + p.funds_cash_fen }));
    const max = Math.max(1, ...rows.map((r) => r.total));
    const bars = h("ul", { class: "bars" }, rows.map(({ p, total }) =>
      h("li", null,
        h("div", { class: "bar-label" }, h("span", null, progDot(p.programme), " ", h("strong", null, progName(p.programme))),
          h("span", { class: "amt" }, yuan(total))),
        stackedBar([
          { value: p.disbursed_fen, color: COLOR_DISBURSED, label: t("legend_disbursed") },
          { value: p.held_in_cases_fen, color: COLOR_HELD_CASES, label: t("legend_held_cases") },
          { value: p.funds_cash_fen, color: COLOR_HELD_FUNDS, label: t("legend_held_funds") },
        ], max, `${progName(p.programme)}: ${t("legend_disbursed")} ${yuan(p.disbursed_fen)}, ${t("legend_held_cases")} ${yuan(p.held_in_cases_fen)}, ${t("legend_held_funds")} ${yuan(p.funds_cash_fen)}`))));
    const head = [
      { label: t("prog_col") },
      { label: t("prog_disbursed"), num: true },
      { label: t("prog_held_cases"), num: true },
      { label: t("prog_funds_held"), num: true },
      { label: t("prog_allocated"), num: true },
      { label: t("prog_earmarked"), num: true },
      { label: t("prog_cases"), num: true },
      { label: t("prog_instalments"), num: true },
    ];
    return section("h-prog", t("prog_title"),
      h("p", { class: "muted small" }, t("prog_desc")),
      legend([[COLOR_DISBURSED, t("legend_disbursed")], [COLOR_HELD_CASES, t("legend_held_cases")], [COLOR_HELD_FUNDS, t("legend_held_funds")]]),
      bars,
      h("details", { class: "figures", open: window.innerWidth >= 700 ? true : null }, h("summary", null, t("figures_table")),
        table("stack", null, head, s.programmes.map((p) => {
        const cell = (col, v, f) => h("span", { "data-prog": p.programme, "data-col": col }, (f || yuan)(v));
        return [
          [progDot(p.programme), " ", progName(p.programme)],
          cell("disbursed", p.disbursed_fen), cell("held_cases", p.held_in_cases_fen), cell("funds_held", p.funds_cash_fen),
          cell("allocated", p.allocated_fen), cell("earmarked", p.earmarked_fen), cell("cases", p.cases, count),
          cell("instalments", p.disbursements, count),
        ];
      }))));
  }

  function fundBars(funds) {
    const max = Math.max(1, ...funds.map((f) => f.in_fen));
    return h("ul", { class: "bars" }, funds.map((f) =>
      h("li", null,
        h("div", { class: "bar-label" },
          h("span", null, progDot(f.programme), " ", link("#/fund/" + q(f.id), dataText(f.name))),
          h("span", { class: "amt" }, yuan(f.in_fen))),
        stackedBar([
          { value: f.allocated_fen, color: PROG_COLOR[f.programme] || COLOR_OTHER, label: t("legend_allocated") },
          { value: f.cash_fen, color: COLOR_HELD_FUNDS, label: t("legend_held_funds") },
        ], max, `${f.name}: ${t("legend_allocated")} ${yuan(f.allocated_fen)}, ${t("legend_held_funds")} ${yuan(f.cash_fen)}`))));
  }

  function fundTable(funds) {
    const head = [
      { label: t("fund_col") },
      { label: t("fund_programme") },
      { label: t("fund_kind") },
      { label: t("fund_in"), num: true },
      { label: t("fund_allocated"), num: true },
      { label: t("fund_held"), num: true },
    ];
    return table("stack", null, head, funds.map((f) => [
      link("#/fund/" + q(f.id), dataText(f.name)),
      progName(f.programme),
      [f.restricted ? t("fund_restricted") : t("fund_unrestricted"), f.closed ? [" ", h("span", { class: "badge" }, t("fund_closed"))] : ""],
      yuan(f.in_fen), yuan(f.allocated_fen), yuan(f.cash_fen),
    ]));
  }

  function fundsSection(s, all) {
    const funds = [...s.funds].sort((a, b) => b.in_fen - a.in_fen);
    const shown = all ? funds : funds.slice(0, 8);
    return section("h-funds", t("funds_title"),
      h("p", { class: "muted small" }, t("funds_desc")),
      legend([[PROG_COLOR.general, t("legend_allocated")], [COLOR_HELD_FUNDS, t("legend_held_funds")]]),
      fundBars(shown),
      all ? fundTable(funds) : h("p", null, link("#/funds", t("funds_all", { n: funds.length }))));
  }

  function goodsSection(s) {
    const goods = Object.entries(s.totals.goods || {});
    const head = [
      { label: t("goods_item") },
      { label: t("goods_received"), num: true },
      { label: t("goods_disbursed"), num: true },
      { label: t("goods_held"), num: true },
    ];
    return section("h-goods", t("goods_title"),
      goods.length
        ? table("compact", null, head, goods.map(([item, g]) => [
          dataText(item), count(g.received - g.corrected), count(g.disbursed - g.returned), count(g.held_in_funds + g.held_in_cases),
        ]))
        : h("p", null, t("goods_none")));
  }

  function checkpointSection(s, text) {
    let note = null;
    try {
      note = parseNote(text);
    } catch (_) {
      /* shown as a failed signature below */
    }
    const sigStatus = h("span", { id: "cp-sig", "data-status": "running" }, t("loading"));
    const witnessList = h("ul", { class: "small", id: "cp-witnesses" });
    const declared = s.witness_policy && s.witness_policy.witnesses.length
      ? h("p", { class: "small" }, t("cp_declared", { names: s.witness_policy.witnesses.map((w) => w.name).join(", "), quorum: s.witness_policy.quorum }))
      : null;
    const after = async () => {
      try {
        if (!note) throw new StepError(t("err_cp_format"));
        if (!LOG_KEY) throw new StepError(t("err_no_key"));
        const key = await parseVkey(LOG_KEY, 0x01);
        await checkNoteSignature(note, key);
        sigStatus.textContent = t("cp_sig_ok");
        sigStatus.className = "badge ok long";
        sigStatus.setAttribute("data-status", "pass");
        const others = note.sigs.filter((x) => !(x.name === key.name && same(x.bytes.slice(0, 4), key.keyHash)));
        if (!others.length) witnessList.append(h("li", null, t("cp_no_witness")));
        const vkeys = new Map(((s.witness_policy && s.witness_policy.witnesses) || []).map((w) => [w.name, w.vkey]));
        for (const o of others) {
          let text2 = t("cp_cosig_unknown", { name: o.name });
          if (vkeys.has(o.name)) {
            let ok = false;
            try {
              ok = await checkCosignature(note, o, vkeys.get(o.name));
            } catch (_) {
              ok = false;
            }
            text2 = t(ok ? "cp_cosig_ok" : "cp_cosig_bad", { name: o.name });
          }
          witnessList.append(h("li", null, text2));
        }
      } catch (e) {
        sigStatus.textContent = t("cp_sig_bad", { msg: e.message });
        sigStatus.className = "badge bad long";
        sigStatus.setAttribute("data-status", "fail");
      }
    };
    return {
      node: section("h-cp", t("cp_title"),
        h("p", { class: "muted small" }, t("cp_desc")),
        dl([
          [t("cp_size"), h("span", { "data-cp": "size" }, note ? count(note.size) : "—")],
          [t("cp_root"), code(note ? note.rootB64 : "—")],
          [t("cp_sig"), sigStatus],
          [t("cp_witnesses"), [witnessList, declared]],
          [t("log_key"), code(LOG_KEY || "—")],
        ]),
        h("details", null, h("summary", null, t("cp_raw")), h("pre", null, text))),
      after,
    };
  }

  async function viewHome() {
    const [s, cpText] = await Promise.all([summary(), api("/checkpoint", "text").catch(() => "")]);
    if (!s.log) return { title: t("nav_home"), nodes: [h("p", { class: "card" }, t("no_ledger"))] };
    const flow = flowSection(s);
    const cp = checkpointSection(s, cpText);
    const nodes = [
      h("section", { class: "card hero", "aria-labelledby": "h-hero" },
        h("h1", { id: "h-hero" }, t("hero_title")),
        h("p", null, t("hero_text")),
        h("h2", { class: "small", id: "h-lookup" }, t("hero_lookup")),
        lookupForm("home"),
        examples(s)),
      totalsSection(s),
      flow.node,
      programmeSection(s),
      h("div", { class: "cols" }, fundsSection(s, false), cp.node),
      section("h-recent", t("recent_title"),
        h("p", { class: "muted small" }, t("recent_desc", { n: s.recent.length })),
        eventTable(s.recent),
        h("p", null, link("#/oversight", t("more_oversight")), " · ", h("span", { class: "muted" }, t("complaints_counts", { open: s.counts.complaints_open, resolved: s.counts.complaints_resolved })))),
      h("div", { class: "cols" }, goodsSection(s), section("h-find", t("find_any"), findForm())),
    ];
    return { title: t("nav_home"), nodes, after: () => { flow.after(); return cp.after(); }, sankey: flow.holder };
  }

  async function viewFunds() {
    const s = await summary();
    return { title: t("nav_funds"), nodes: [fundsSection(s, true), programmeSection(s)] };
  }

  async function viewFund(id) {
    const [f, s, act] = await Promise.all([
      api("/v1/funds/" + q(id)),
      summary(),
      api("/v1/activity/" + q(id) + "?limit=30").catch(() => null),
    ]);
    const body = f.fund;
    const row = s.funds.find((x) => x.id === id);
    const goods = Object.entries(f.balance.goods || {});
    const nodes = [
      h("section", { class: "card", "aria-labelledby": "h-fund" },
        h("h1", { id: "h-fund" }, dataText(body.name)),
        dl([
          [t("col_id"), code(id, "mono")],
          [t("fund_programme"), [progDot(body.programme), " ", progName(body.programme)]],
          [t("fund_kind"), [body.restricted ? t("fund_restricted") : t("fund_unrestricted"), f.balance.closed ? [" ", h("span", { class: "badge" }, t("fund_closed"))] : ""]],
          body.sponsor ? [t("fund_sponsor"), dataText(body.sponsor)] : null,
          [t("fund_opened"), day(body.at)],
          [t("fund_opening"), yuan(body.opening_balance_fen)],
          row ? [t("fund_in"), yuan(row.in_fen)] : null,
          row ? [t("fund_allocated"), yuan(row.allocated_fen)] : null,
          [t("fund_held"), h("strong", { "data-fund-held": f.balance.cash_fen }, yuan(f.balance.cash_fen))],
          goods.length ? [t("goods_held"), goods.map(([k, v]) => `${count(v)} × ${k}`).join("; ")] : null,
          [t("col_proof"), link("#/entry/" + f.seq, "#" + f.seq)],
        ])),
    ];
    if (act) {
      nodes.push(section("h-act", t("fund_activity", { n: count(act.total) }), eventTable(act.entries)));
    }
    return { title: body.name, nodes };
  }

  async function viewCase(id) {
    const c = await api("/v1/cases/" + q(id));
    const allocatedNet = c.allocations.filter((a) => a.asset === "cash").reduce((x, a) => x + a.amount - a.revoked, 0);
    const disbursedNet = c.disbursements.filter((d) => d.asset === "cash").reduce((x, d) => x + d.amount - d.returned, 0);
    const amt = (asset, n) => (asset === "cash" ? yuan(n) : `${count(n)} × ${asset}`);
    const allocHead = [
      { label: t("col_time") }, { label: t("col_id") }, { label: t("col_fund") }, { label: t("col_amount"), num: true },
      { label: t("col_revoked"), num: true }, { label: t("col_decision") },
    ];
    const disbHead = [
      { label: t("col_time") }, { label: t("col_id") }, { label: t("col_method") }, { label: t("col_payee") },
      { label: t("col_amount"), num: true }, { label: t("col_returned"), num: true }, { label: t("col_vouchers") }, { label: t("col_paid_by") },
    ];
    const payee = (p) => (p && p.vendor ? dataText(p.vendor) : t("payee_person"));
    const paidBy = (sources) => {
      const gifts = (sources || []).filter((x) => x.donation);
      if (!gifts.length) return "";
      return h("details", null, h("summary", null, t("paid_by_n", { n: gifts.length })),
        h("ul", { class: "idlist" }, gifts.slice(0, 50).map((g) => h("li", null, link("#/verify/" + q(g.donation), code(g.donation, "mono")), " ", amt(g.asset, g.amount)))));
    };
    const nodes = [
      h("section", { class: "card", "aria-labelledby": "h-case" },
        h("h1", { id: "h-case" }, t("case_title", { id })),
        h("p", { class: "muted small" }, t("case_anon")),
        dl([
          [t("case_programme"), [progDot(c.programme), " ", progName(c.programme)]],
          [t("case_region"), dataText(c.region)],
          [t("case_summary"), dataText(c.summary)],
          [t("case_opened"), day(c.opened_at)],
          [t("case_status"), h("span", { class: "badge " + (c.closed ? "" : "ok") }, c.closed ? t("case_closed") : t("case_open"))],
          [t("case_requested"), yuan(c.requested_fen)],
          [t("case_allocated"), yuan(allocatedNet)],
          [t("case_disbursed"), yuan(disbursedNet)],
          [t("case_balance"), yuan(c.balance.cash_fen)],
          [t("col_proof"), link("#/entry/" + c.seq, "#" + c.seq)],
        ])),
      section("h-alloc", t("alloc_title"), c.allocations.length
        ? table("stack", null, allocHead, c.allocations.map((a) => [
          day(a.at), link("#/entry/" + a.seq, code(a.id, "mono")), link("#/fund/" + q(a.fund), code(a.fund, "mono")),
          amt(a.asset, a.amount), a.revoked ? amt(a.asset, a.revoked) : "—", dataText(a.decision),
        ]))
        : h("p", null, t("none"))),
      section("h-disb", t("disb_title"), c.disbursements.length
        ? table("stack", null, disbHead, c.disbursements.map((d) => [
          day(d.at), link("#/entry/" + d.seq, code(d.id, "mono")), label("m_", d.method), payee(d.payee),
          amt(d.asset, d.amount), d.returned ? amt(d.asset, d.returned) : "—",
          h("ul", { class: "idlist" }, (d.evidence || []).map((e) => h("li", null, code(e, "mono break")))),
          paidBy(d.paid_from),
        ]))
        : h("p", null, t("none"))),
    ];
    if (c.earmarked && c.earmarked.length) {
      nodes.push(section("h-earmarked", t("earmarked_title"),
        h("ul", { class: "idlist" }, c.earmarked.map((d) => h("li", null, link("#/verify/" + q(d), code(d, "mono")))))));
    }
    return { title: t("case_title", { id }), nodes };
  }

  function statusBadge(status) {
    const cls = status === "resolved" ? "ok" : status === "referred" ? "" : "warn";
    return h("span", { class: "badge " + cls, "data-status": status }, label("st_", status));
  }

  async function viewComplaint(id) {
    const c = await api("/v1/complaints/" + q(id));
    const body = c.complaint;
    const items = c.timeline.map((e) => {
      const ev = e.event || {};
      const text = ev.note || ev.summary || "";
      return h("li", null,
        h("strong", null, kindName(e.kind)), " · ", h("span", { class: "muted" }, day(e.at)),
        ev.status ? [" · ", label("st_", ev.status)] : "",
        ev.finding ? [" · ", label("f_", ev.finding)] : "",
        text ? h("p", { class: "small" }, dataText(text)) : "",
        ev.actions && ev.actions.length ? h("p", { class: "small" }, ev.actions.map((a) => [idLink(a), " "])) : "",
        h("p", { class: "small" }, link("#/entry/" + e.seq, t("proof_link"), " #" + e.seq)));
    });
    const subjects = c.subjects.map((x) => h("li", null, x.kind ? kindName(x.kind) + " " : "", idLink(x.id)));
    return {
      title: t("complaint_title", { id }),
      nodes: [
        h("section", { class: "card", "aria-labelledby": "h-complaint" },
          h("h1", { id: "h-complaint" }, t("complaint_title", { id })),
          dl([
            [t("col_status"), statusBadge(c.status)],
            [t("col_channel"), label("ch_", body.channel)],
            [t("complaint_filed"), day(body.at)],
            [t("col_summary"), dataText(body.summary)],
            [t("complaint_subjects"), h("ul", { class: "idlist" }, subjects)],
          ])),
        section("h-timeline", t("timeline"), h("ol", { class: "timeline" }, items)),
      ],
    };
  }

  async function viewAudit(id) {
    const a = await api("/v1/audits/" + q(id));
    const plan = a.plan;
    const st = a.status;
    const checks = h("ol", { class: "steps" });
    const result = h("div", { class: "result pending", id: "audit-result", role: "status", "aria-live": "polite" });
    const sampled = a.sample && a.sample.id;
    const findings = a.findings.map((f) => {
      const fb = f.finding;
      return h("li", null,
        h("p", null, h("strong", null, link("#/entry/" + fb._seq, code(fb.id, "mono"))), " · ", t("finding_severity"), ": ",
          h("span", { class: "badge " + (fb.severity === "major" ? "bad" : fb.severity === "minor" ? "warn" : "") }, label("sev_", fb.severity))),
        h("p", null, dataText(fb.summary)),
        fb.subjects && fb.subjects.length ? h("p", { class: "small" }, fb.subjects.map((x) => [idLink(x), " "])) : "",
        f.rectifications.length ? h("ul", null, f.rectifications.map((r) => h("li", null,
          h("strong", null, t("rect_issued")), " ", code(r.issued.id, "mono"), " · ", t("rect_deadline"), " ", r.issued.deadline, " · ",
          idLink(r.issued.subject), h("br"), dataText(r.issued.summary), h("br"),
          r.closed
            ? [h("span", { class: "badge ok" }, t("rect_closed")), " ", day(r.closed.at), " ", dataText(r.closed.summary)]
            : h("span", { class: "badge warn" }, t("rect_open"))))) : "");
    });
    const nodes = [
      h("section", { class: "card", "aria-labelledby": "h-audit" },
        h("h1", { id: "h-audit" }, t("audit_title", { id })),
        h("p", null, dataText(plan.summary)),
        dl([
          [t("audit_population"), label("pop_", st.population)],
          [t("audit_window"), t("audit_window_v", { from: st.from_seq, to: st.to_seq })],
          [t("audit_rate"), (st.rate_permille / 10).toFixed(1) + "%"],
          [t("audit_seed"), st.seed_root ? t("audit_seed_v", { size: st.seed_size, root: st.seed_root }) : String(st.seed_size)],
          [t("audit_sample"), sampled ? t("audit_selected", { n: a.sample.selected_count }) : t("audit_not_sampled")],
          [t("col_proof"), link("#/entry/" + a.seq, "#" + a.seq)],
        ]),
        sampled ? [result, checks] : "",
        sampled && a.selected.length ? h("details", null, h("summary", null, t("audit_selected", { n: a.selected.length })),
          h("ul", { class: "idlist" }, a.selected.map((x) => h("li", null, idLink(x))))) : ""),
      section("h-findings", t("findings_title"), findings.length ? h("ol", null, findings) : h("p", null, t("no_findings"))),
    ];
    const after = sampled
      ? () => runSteps([
        {
          key: "nonce",
          name: t("audit_check_nonce"),
          run: async () => {
            const got = hex(await sha256(unhex(a.sample.nonce)));
            if (got !== plan.nonce_hash) throw new StepError(`${got} ≠ ${plan.nonce_hash}`);
            return got;
          },
        },
        {
          key: "selection",
          name: t("audit_check_hash"),
          run: async () => {
            const got = hex(await sha256(enc.encode(a.selected.map((x) => x + "\n").join(""))));
            if (got !== a.sample.selected_hash || a.selected.length !== a.sample.selected_count) {
              throw new StepError(`${got} ≠ ${a.sample.selected_hash}`);
            }
            return got;
          },
        },
      ], checks, result, t("audit_ok", { n: a.selected.length }))
      : null;
    return { title: t("audit_title", { id }), nodes, after };
  }

  async function viewOversight() {
    const s = await summary();
    const cHead = [{ label: t("col_id") }, { label: t("col_time") }, { label: t("col_channel") }, { label: t("col_status") }, { label: t("col_summary") }];
    const aHead = [{ label: t("col_id") }, { label: t("col_time") }, { label: t("col_population") }, { label: t("col_rate"), num: true }, { label: t("col_status") }, { label: t("col_findings"), num: true }];
    return {
      title: t("nav_oversight"),
      nodes: [
        h("section", { class: "card", "aria-labelledby": "h-over" }, h("h1", { id: "h-over" }, t("over_title")), h("p", null, t("over_desc"))),
        section("h-complaints", t("complaints_title"),
          h("p", { class: "muted" }, t("complaints_counts", { open: s.counts.complaints_open, resolved: s.counts.complaints_resolved })),
          s.complaints.length
            ? table("stack", null, cHead, s.complaints.map((c) => [
              link("#/complaint/" + q(c.id), code(c.id, "mono")), day(c.at), label("ch_", c.channel), statusBadge(c.status), dataText(c.summary),
            ]))
            : h("p", null, t("complaint_none"))),
        section("h-audits", t("audits_title"),
          s.audits.length
            ? table("stack", null, aHead, s.audits.map((a) => [
              link("#/audit/" + q(a.id), code(a.id, "mono")), day(a.at), label("pop_", a.population), (a.rate_permille / 10).toFixed(1) + "%",
              h("span", { class: "badge " + (a.sampled ? "ok" : "warn") }, a.sampled ? t("sampled_yes") : t("sampled_no")), count(a.findings),
            ]))
            : h("p", null, t("audit_none"))),
      ],
    };
  }

  function traceView(trace) {
    const value = (p) => (p.amount_fen !== undefined ? p.amount_fen : p.quantity * p.unit_value_fen);
    const total = trace.reduce((a, p) => a + value(p), 0);
    const where = (p) => {
      switch (p.state) {
        case "in_fund":
          return link("#/fund/" + q(p.fund), t("trace_fund", { fund: p.fund }));
        case "in_case":
          return [link("#/case/" + q(p.case), t("trace_case", { case: p.case })), " · ", p.allocation ? link(findHref(p.allocation), t("trace_via_alloc", { alloc: p.allocation })) : t("trace_earmarked")];
        case "disbursed":
          return [link("#/case/" + q(p.case), t("trace_case", { case: p.case })), " · ", link(findHref(p.disbursement), t("trace_disb", { disb: p.disbursement })), p.allocation ? [" · ", t("trace_via_alloc", { alloc: p.allocation })] : ""];
        case "refunded":
          return link(findHref(p.refund), t("trace_refund", { id: p.refund }));
        case "corrected":
          return link(findHref(p.correction), t("trace_correction", { id: p.correction }));
        default:
          return "";
      }
    };
    const amount = (p) => (p.amount_fen !== undefined ? yuan(p.amount_fen) : `${count(p.quantity)} × ${p.item} (${yuan(p.quantity * p.unit_value_fen)})`);
    const states = ["disbursed", "in_case", "in_fund", "refunded", "corrected"];
    const sums = states.map((st) => ({ st, v: trace.filter((p) => p.state === st).reduce((a, p) => a + value(p), 0) })).filter((x) => x.v > 0);
    return [
      legend(sums.map((x) => [STATE_COLOR[x.st], `${t("st_" + x.st)} ${yuan(x.v)}`])),
      stackedBar(sums.map((x) => ({ value: x.v, color: STATE_COLOR[x.st], label: t("st_" + x.st) })), total, sums.map((x) => `${t("st_" + x.st)} ${yuan(x.v)}`).join("; ")),
      table("stack trace", null, [{ label: t("trace_state") }, { label: t("col_amount"), num: true }, { label: t("trace_where") }],
        trace.map((p) => [[swatch(STATE_COLOR[p.state] || COLOR_OTHER), " ", t("st_" + p.state)], amount(p), where(p)])),
    ];
  }

  function verifyForm(id) {
    const salt = h("input", { type: "text", id: "receipt-salt", autocomplete: "off", spellcheck: "false", value: secrets.salt, "aria-describedby": "salt-help", inputmode: "text" });
    const identity = h("input", { type: "text", id: "receipt-identity", autocomplete: "off", spellcheck: "false", value: secrets.identity, "aria-describedby": "salt-help" });
    const input = h("input", {
      type: "text", id: "receipt-id", name: "receipt", autocomplete: "off", autocapitalize: "off", spellcheck: "false",
      placeholder: t("receipt_placeholder"), value: id || "", required: true,
    });
    return h("form", {
      id: "verify-form",
      onsubmit: (ev) => {
        ev.preventDefault();
        secrets.salt = salt.value;
        secrets.identity = identity.value;
        const v = input.value.trim();
        if (!v) return;
        const target = "#/verify/" + q(v);
        if (location.hash === target) render(true);
        else go(target);
      },
    },
    h("div", { class: "lookup" },
      h("div", { class: "field" }, h("label", { for: "receipt-id" }, t("receipt_code")), input),
      h("button", { class: "primary", type: "submit", id: "verify-submit" }, t("btn_verify"))),
    h("details", { open: secrets.salt || secrets.identity ? true : null },
      h("summary", null, t("salt_legend")),
      h("p", { class: "help", id: "salt-help" }, t("salt_help")),
      h("div", { class: "grid2" },
        h("div", null, h("label", { for: "receipt-salt" }, t("salt_label")), salt),
        h("div", null, h("label", { for: "receipt-identity" }, t("identity_label")), identity))));
  }

  async function viewVerify(id) {
    const head = h("section", { class: "card hero", "aria-labelledby": "h-verify" },
      h("h1", { id: "h-verify" }, t("verify_title")),
      h("p", null, t("verify_desc")),
      verifyForm(id));
    if (!id) {
      const s = await summary().catch(() => null);
      return { title: t("verify_title"), nodes: [head, s ? h("div", { class: "card" }, examples(s)) : ""] };
    }
    let don;
    let receipt;
    try {
      [don, receipt] = await Promise.all([api("/v1/donations/" + q(id)), api("/v1/donations/" + q(id) + "/receipt")]);
    } catch (e) {
      if (e.status !== 404) throw e;
      const ev = await api("/v1/events/" + q(id)).catch(() => null);
      const msg = ev
        ? h("p", null, t("not_donation", { id, kind: kindName(ev.event.kind) }), " ", link(eventHref(Object.assign({ seq: ev.seq }, ev.event)) || "#/entry/" + ev.seq, t("open_it")))
        : h("p", null, t("not_found", { what: id }));
      return { title: t("verify_title"), nodes: [head, h("div", { class: "card", role: "alert", id: "verify-missing" }, msg)] };
    }
    const d = don.donation;
    const steps = h("ol", { class: "steps", id: "verify-steps" });
    const result = h("div", { class: "result pending", id: "verify-result", role: "status", "aria-live": "polite", "data-status": "running" }, t("loading"));
    const ctx = {};
    const tampered = TAMPER ? tamper(receipt) : receipt;
    const list = receiptSteps(id, tampered, d, ctx);
    if (secrets.salt || secrets.identity) {
      list.push({ key: "commitment", name: t("step_commitment"), run: () => commitmentStep(ctx.body) });
    }
    const nodes = [
      head,
      h("section", { class: "card", "aria-labelledby": "h-don" },
        h("h2", { id: "h-don" }, t("donation_title", { id })),
        dl([
          d.amount_fen !== undefined ? [t("don_amount"), h("strong", { "data-donation-amount": d.amount_fen }, yuan(d.amount_fen))] : null,
          d.goods ? [t("don_goods"), `${count(d.goods.quantity)} ${d.goods.unit || ""} × ${d.goods.item} @ ${yuan(d.goods.unit_value_fen)}`] : null,
          [t("don_date"), day(d.at)],
          [t("don_channel"), label("ch_", d.channel)],
          d.fund ? [t("don_to_fund"), link("#/fund/" + q(d.fund), code(d.fund, "mono"))] : null,
          d.case ? [t("don_to_case"), link("#/case/" + q(d.case), code(d.case, "mono"))] : null,
          d.donor_name ? [t("don_donor_org"), dataText(d.donor_name)] : d.donor ? [t("don_donor"), t("don_donor_private")] : null,
          [t("col_proof"), link("#/entry/" + don.seq, "#" + don.seq)],
        ])),
      section("h-trace", t("trace_title"), h("p", { class: "muted small" }, t("trace_desc")), traceView(don.trace)),
      section("h-check", t("check_title"),
        h("p", { class: "muted small" }, t("check_desc")),
        TAMPER ? h("p", { class: "tamper", id: "tamper-note" }, t("tamper_note", { what: TAMPER })) : "",
        result, steps,
        h("p", { class: "small" }, h("a", { href: "/v1/donations/" + q(id) + "/receipt", download: id + ".receipt.json" }, t("download_receipt")))),
    ];
    const after = () => runSteps(list, steps, result, t("result_ok", { seq: receipt.seq, size: count(receipt.size) }));
    return { title: t("donation_title", { id }), nodes, after };
  }

  async function viewEntry(seqText) {
    const seq = Number(seqText);
    const cpText = await api("/checkpoint", "text");
    const note = parseNote(cpText);
    const bytes = await api("/v1/entries/" + seq, "bytes");
    const { entry, body } = parseEntry(bytes);
    const inSize = seq < note.size;
    const proofDoc = inSize ? await api(`/v1/proof/inclusion?seq=${seq}&size=${note.size}`) : null;
    const steps = h("ol", { class: "steps" });
    const result = h("div", { class: "result pending", id: "verify-result", role: "status", "aria-live": "polite", "data-status": "running" }, t("loading"));
    const ctx = {};
    const list = [
      {
        key: "key",
        name: t("step_key_embedded"),
        run: async () => {
          if (!LOG_KEY) throw new StepError(t("err_no_key"));
          ctx.key = await parseVkey(LOG_KEY, 0x01);
          return LOG_KEY;
        },
      },
      {
        key: "leaf",
        name: t("step_leaf"),
        run: async () => {
          ctx.leaf = await sha256(Uint8Array.of(0), bytes);
          if (proofDoc && hex(ctx.leaf) !== proofDoc.leaf_hash) throw new StepError(`${hex(ctx.leaf)} ≠ ${proofDoc.leaf_hash}`);
          return hex(ctx.leaf);
        },
      },
      {
        key: "inclusion",
        name: t("step_inclusion"),
        run: async () => {
          if (!proofDoc) throw new StepError(t("err_size", { got: note.size, want: seq + 1 }));
          const proof = proofDoc.proof.map(b64d);
          if (TAMPER === "proof" && proof.length) proof[0][0] ^= 1;
          const root = await rootFromInclusion(seq, note.size, ctx.leaf, proof);
          if (!same(root, note.root)) throw new StepError(t("err_root", { got: b64e(root), want: note.rootB64 }));
          return `${proof.length} × SHA-256 → ${note.rootB64}`;
        },
      },
      { key: "signature", name: t("step_signature"), run: () => checkNoteSignature(note, ctx.key) },
    ];
    const env = entry.envelope || {};
    const nodes = [
      h("section", { class: "card", "aria-labelledby": "h-entry" },
        h("h1", { id: "h-entry" }, t("entry_title", { seq })),
        h("p", { class: "muted small" }, t("entry_desc")),
        dl([
          [t("col_kind"), [kindName(body.kind), " ", eventHref(Object.assign({ seq }, body)) ? link(eventHref(Object.assign({ seq }, body)), code(body.id, "mono")) : code(body.id, "mono")]],
          [t("entry_time"), cst(entry.time) + " (UTC+8) · " + entry.time],
          [t("entry_prev"), seq > 0 ? link("#/entry/" + (seq - 1), code(entry.prev, "mono break")) : code(entry.prev, "mono break")],
          [t("entry_signers"), h("ul", { class: "idlist" }, (env.signatures || []).map((s) => h("li", null, code(s.keyid, "mono break"))))],
        ]),
        result, steps),
      section("h-body", t("entry_body"), h("pre", null, JSON.stringify(body, null, 2))),
      section("h-raw", t("entry_raw"), h("pre", { class: "break" }, dec.decode(bytes)),
        proofDoc ? h("details", null, h("summary", null, t("entry_proof") + ` (${proofDoc.proof.length})`),
          h("ol", { class: "small" }, proofDoc.proof.map((p) => h("li", null, code(p, "mono break"))))) : ""),
    ];
    const after = () => runSteps(list, steps, result, t("entry_result_ok", { seq, size: count(note.size) }));
    return { title: t("entry_title", { seq }), nodes, after };
  }

  async function viewFind(id) {
    const ev = await api("/v1/events/" + q(id));
    const href = eventHref(Object.assign({ seq: ev.seq }, ev.event)) || "#/entry/" + ev.seq;
    location.replace(href);
    return null;
  }

  async function viewAbout() {
    const origin = location.origin;
    return {
      title: t("about_title"),
      nodes: [
        h("section", { class: "card", "aria-labelledby": "h-about" },
          h("h1", { id: "h-about" }, t("about_title")),
          h("ol", null, ["about_1", "about_2", "about_3", "about_4", "about_5"].map((k) => h("li", null, t(k)))),
          h("p", null, t("about_cmd")),
          h("pre", null, `ledger-verify url ${origin} --log-key '${LOG_KEY}'`),
          dl([[t("log_key"), code(LOG_KEY || "—")]])),
      ],
    };
  }

  // ---------------------------------------------------------------- routing
  const ROUTES = [
    [/^$/, "home", () => viewHome()],
    [/^verify$/, "verify", () => viewVerify("")],
    [/^verify\/(.+)$/, "verify", (m) => viewVerify(m[1])],
    [/^funds$/, "funds", () => viewFunds()],
    [/^fund\/(.+)$/, "funds", (m) => viewFund(m[1])],
    [/^case\/(.+)$/, "funds", (m) => viewCase(m[1])],
    [/^complaint\/(.+)$/, "oversight", (m) => viewComplaint(m[1])],
    [/^audit\/(.+)$/, "oversight", (m) => viewAudit(m[1])],
    [/^oversight$/, "oversight", () => viewOversight()],
    [/^entry\/([0-9]{1,16})$/, null, (m) => viewEntry(m[1])],
    [/^find\/(.+)$/, null, (m) => viewFind(m[1])],
    [/^about$/, "about", () => viewAbout()],
  ];

  function currentPath() {
    const hash = location.hash;
    if (hash === "" || hash === "#" || hash === "#/") return "";
    if (!hash.startsWith("#/")) return null;
    try {
      return decodeURIComponent(hash.slice(2)).replace(/\/$/, "");
    } catch (_) {
      return hash.slice(2);
    }
  }

  function go(hash) {
    location.hash = hash;
  }

  let currentView = null;
  async function render(focus) {
    const path = currentPath();
    if (path === null) return; // an in-page anchor such as #main
    const gen = ++generation;
    // Tests and assistive tools wait for this again: the content is about to change.
    document.body.removeAttribute("data-ready");
    let route = ROUTES.find(([re]) => re.test(path));
    let match = route ? path.match(route[0]) : null;
    if (!route) {
      route = ROUTES[0];
      match = [""];
    }
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.route === route[1]) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    main.setAttribute("aria-busy", "true");
    let view;
    try {
      view = await route[2](match);
    } catch (e) {
      view = {
        title: t("error_load", { msg: "" }),
        nodes: [h("div", { class: "card", role: "alert", id: "load-error" },
          h("p", null, e && e.status === 404 ? t("not_found", { what: path }) : t("error_load", { msg: (e && e.message) || e })),
          h("p", null, h("button", { class: "primary", type: "button", onclick: () => render(true) }, t("retry")), " ", link("#/", t("back_home"))))],
      };
    }
    if (gen !== generation || !view) return;
    main.replaceChildren(...view.nodes.filter(Boolean));
    main.removeAttribute("aria-busy");
    currentView = view;
    document.title = `${view.title} · ${t("site")}`;
    if (focus) {
      main.focus({ preventScroll: true });
      window.scrollTo(0, 0);
    }
    if (view.after) {
      try {
        await view.after();
      } catch (e) {
        console.error(e);
      }
    }
    if (gen === generation) document.body.setAttribute("data-ready", path || "home");
  }

  function applyStatic() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const el of document.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
    const btn = document.getElementById("lang");
    btn.textContent = t("lang_switch");
    btn.setAttribute("lang", lang === "en" ? "zh-CN" : "en");
    btn.setAttribute("aria-label", t("lang_switch_label"));
  }

  function switchLang() {
    lang = lang === "en" ? "zh" : "en";
    store(lang);
    const url = new URL(location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.set("lang", lang);
      history.replaceState(null, "", url.toString());
    }
    document.body.removeAttribute("data-ready");
    applyStatic();
    render(false);
  }

  function start() {
    main = document.getElementById("main");
    applyStatic();
    document.getElementById("lang").addEventListener("click", switchLang);
    document.getElementById("skip").addEventListener("click", (ev) => {
      ev.preventDefault();
      main.focus();
    });
    window.addEventListener("hashchange", () => {
      document.body.removeAttribute("data-ready");
      render(true);
    });
    let timer = null;
    window.addEventListener("resize", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const holder = currentView && currentView.sankey;
        if (holder && holder.isConnected && Math.abs(holder.clientWidth - lastSankeyWidth) > 20) holder.redraw();
      }, 150);
    });
    render(false);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
