/* Payment codes made on the phone (付款码), offline-capable.
 *
 * The same code as onecard/pay/paycode.py: "8" + region_no (3) + token (8) + TOTP (6),
 * RFC 6238 with HMAC-SHA1 over the big-endian step counter floor(unix / step), the base32
 * secret decoded as RFC 4648. HMAC comes from WebCrypto (crypto.subtle), so nothing here
 * reimplements SHA-1. The secret is fetched once from /api/v1/me/paycode-secret and kept
 * in localStorage: with no network the page keeps making valid codes from it.
 */
(function () {
  "use strict";

  function base32Decode(input) {
    var alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    var clean = String(input).toUpperCase().replace(/[\s=]/g, "");
    var bits = 0, value = 0, out = [];
    for (var i = 0; i < clean.length; i++) {
      var idx = alphabet.indexOf(clean.charAt(i));
      if (idx < 0) throw new Error("bad base32 secret");
      value = (value << 5) | idx;
      bits += 5;
      if (bits >= 8) {
        out.push((value >>> (bits - 8)) & 0xff);
        bits -= 8;
      }
    }
    return new Uint8Array(out);
  }

  function counterBytes(step) {
    var buf = new Uint8Array(8);
    var hi = Math.floor(step / 4294967296), lo = step >>> 0;
    for (var i = 3; i >= 0; i--) { buf[i] = hi & 0xff; hi = Math.floor(hi / 256); }
    for (var j = 7; j >= 4; j--) { buf[j] = lo & 0xff; lo = lo >>> 8; }
    return buf;
  }

  async function otpAtStep(secret, step, digits) {
    digits = digits || 6;
    var key = await crypto.subtle.importKey(
      "raw", base32Decode(secret), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
    var mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, counterBytes(step)));
    var off = mac[mac.length - 1] & 0x0f;
    var bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
    var s = String(bin % Math.pow(10, digits));
    while (s.length < digits) s = "0" + s;
    return s;
  }

  async function otp(secret, unixSeconds, stepSeconds, digits) {
    return otpAtStep(secret, Math.floor(unixSeconds / (stepSeconds || 30)), digits);
  }

  async function makeCode(regionNo, token, secret, unixSeconds, stepSeconds) {
    return "8" + regionNo + token + (await otp(secret, unixSeconds, stepSeconds, 6));
  }

  window.OneCardPaycode = { base32Decode: base32Decode, otp: otp, makeCode: makeCode };

  /* ---- the page ---------------------------------------------------------------- */
  var root = document.getElementById("paycode");
  if (!root) return;
  var storeKey = "onecard.paycode." + root.getAttribute("data-person");
  var qrBox = document.getElementById("paycode-qr");
  var digitsBox = document.getElementById("paycode-digits");
  var countdown = document.getElementById("paycode-countdown");
  var netBox = document.getElementById("paycode-net");
  var paidBox = document.getElementById("paycode-paid");
  var cfg = null, shownStep = null, lastPaymentId = null, baselined = false, stopped = false;

  function loadStored() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "null"); } catch (e) { return null; }
  }

  async function fetchSecret() {
    try {
      var r = await fetch("/api/v1/me/paycode-secret", { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      var data = await r.json();
      localStorage.setItem(storeKey, JSON.stringify(data));
      return data;
    } catch (e) {
      return loadStored();
    }
  }

  function group(code) { return code.replace(/(\d{4})(?=\d)/g, "$1 "); }

  async function refresh(force) {
    if (!cfg) return;
    var step = cfg.step_seconds || 30;
    var now = Date.now() / 1000;
    var current = Math.floor(now / step);
    var left = Math.ceil(step - (now - current * step));
    countdown.textContent = String(Math.min(left, step));
    if (current === shownStep && !force) return;
    shownStep = current;
    var code = await makeCode(cfg.region_no, cfg.token, cfg.secret, now, step);
    root.setAttribute("data-code", code);
    digitsBox.textContent = group(code);
    var qr = qrcode(0, "M");
    qr.addData(code, "Numeric");
    qr.make();
    qrBox.innerHTML = qr.createSvgTag({ cellSize: 6, margin: 2, scalable: true });
  }

  function showNet() {
    var online = navigator.onLine;
    netBox.hidden = online;
    root.setAttribute("data-online", online ? "1" : "0");
  }

  async function pollPayments() {
    if (stopped || !navigator.onLine) return;
    try {
      var r = await fetch("/api/v1/me/transactions?limit=1", { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { signedOut(); return; }
      if (!r.ok) return;
      var list = await r.json();
      var t = list.length ? list[0] : null;
      // The first poll only notes where the list stands (possibly empty); a payment is
      // shown when a later poll finds a newer one.
      // A payment is known by its id and status, so a reversal at the till shows too.
      var seen = t ? t.payment_id + ":" + t.status : null;
      if (!baselined) { baselined = true; lastPaymentId = seen; return; }
      if (t && seen !== lastPaymentId) {
        lastPaymentId = seen;
        var ok = t.status === "approved";
        var word = paidBox.getAttribute("data-text-" + t.status) || t.status;
        paidBox.hidden = false;
        paidBox.className = t.status === "refused" ? "alert" : "ok";
        paidBox.textContent = word + " " + t.canteen + " " + yuan(t.amount_fen) + " " +
          (paidBox.getAttribute("data-text-yuan") || "");
        paidBox.setAttribute("data-payment", String(t.payment_id));
        paidBox.setAttribute("data-status", t.status);
        if (ok) refresh(true);  // the code just used is spent: show the next one
        refreshBalances();
      }
    } catch (e) { /* offline: the code keeps working */ }
  }

  // The session ended on the server (signed out everywhere, phone reported lost, expired):
  // forget the stored secret, so this phone makes no more codes from it, and go to the
  // sign-in page, which comes back here.
  function signedOut() {
    if (stopped) return;
    stopped = true;
    try { localStorage.removeItem(storeKey); } catch (e) { /* private mode */ }
    window.location.assign("/login?next=" + encodeURIComponent("/me/code"));
  }

  function yuan(fen) { return (fen / 100).toFixed(2); }

  // The balances on this page (templates/diner/_balances.html: [data-purse]) follow
  // every payment the poll sees, from the same API the phone's other pages use.
  async function refreshBalances() {
    try {
      var r = await fetch("/api/v1/me/balances", { credentials: "same-origin", cache: "no-store" });
      if (!r.ok) return;
      var b = await r.json();
      var values = { subsidy: b.subsidy_fen, cash: b.cash_fen, total: b.total_fen };
      document.querySelectorAll("#balances [data-purse]").forEach(function (el) {
        var v = values[el.getAttribute("data-purse")];
        if (typeof v === "number") el.textContent = yuan(v);
      });
      var box = document.getElementById("balances");
      if (box) box.setAttribute("data-refreshed", String(Date.now()));
    } catch (e) { /* offline: the last balances stay shown */ }
  }

  async function start() {
    if (!window.crypto || !crypto.subtle) {
      digitsBox.textContent = "此浏览器不支持安全生成付款码（需 HTTPS）";
      return;
    }
    cfg = await fetchSecret();
    if (!cfg) {
      digitsBox.textContent = "首次使用请联网打开本页";
      return;
    }
    showNet();
    await refresh(true);
    root.setAttribute("data-ready", "1");
    setInterval(function () { refresh(false); }, 500);
    setInterval(pollPayments, 2000);
    pollPayments();
  }

  window.addEventListener("online", showNet);
  window.addEventListener("offline", showNet);
  start();
})();
