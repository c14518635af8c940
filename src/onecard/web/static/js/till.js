/* The canteen till (收银台), loaded only by templates/till/till.html.
 *
 * - Which way the next scan charges: meal period, amount or item lines, whichever the
 *   cashier last touched; the banner #till-mode says it in large coloured text (its words
 *   come from the server in data-text-* attributes, so they follow the page's language).
 * - After each scan the input is cleared and focused for the next diner; after an
 *   approved payment by amount or items, the amount and quantities are cleared and the
 *   till goes back to charging the meal — an amount is used once.
 * - A tone for the verdict, made with the Web Audio API (no sound files): two rising
 *   beeps for approved or reversed, a low double buzz for refused. #till-sound turns it
 *   off (remembered in localStorage).
 * - Face pay (#till-face, only when the till's terminal takes faces): the device camera
 *   (getUserMedia → canvas → JPEG, put into the file input #face-photo) or the file
 *   input itself (capture="user"); the button 刷脸收款 posts the same form to /till/face
 *   (its formaction). After need_digits the picture is kept and the digits field is
 *   focused; Enter there pays by face. After a decision (approved or refused) the picture
 *   and the cashier's attestation are cleared: each face payment is attested again; an
 *   answer with nothing decided (no face, not attested: data-kept) keeps them.
 */
(function () {
  "use strict";

  var form = document.getElementById("till-form");
  if (!form) return;
  var banner = document.getElementById("till-mode");
  var what = document.getElementById("till-mode-what");
  var modeInput = document.getElementById("mode");
  var amount = document.getElementById("amount");
  var soundBox = document.getElementById("till-sound");

  function text(key) { return banner.getAttribute("data-text-" + key) || ""; }

  function checkedMeal() { return form.querySelector("input[name=meal]:checked"); }

  function pieces() {
    var n = 0;
    form.querySelectorAll("input.qty").forEach(function (q) {
      var v = parseInt(q.value, 10);
      if (v > 0) n += v;
    });
    return n;
  }

  function setMode(mode) {
    var label;
    if (mode === "items") label = text("items") + "：" + pieces() + " " + text("pieces");
    else if (mode === "amount") label = text("amount") + "：¥" + amount.value.trim();
    else {
      var meal = checkedMeal();
      if (meal) label = text("meal") + "：" + meal.getAttribute("data-name");
      else { mode = "none"; label = text("none"); }
    }
    modeInput.value = mode === "none" ? "meal" : mode;
    form.setAttribute("data-mode", mode);
    banner.className = "till-mode " + mode;
    what.textContent = label;
  }

  function currentMode() {
    if (pieces() > 0) return "items";
    if (amount && amount.value.trim()) return "amount";
    return "meal";
  }

  form.addEventListener("input", function (e) {
    var el = e.target;
    if (el === amount || (el.classList && el.classList.contains("qty"))) setMode(currentMode());
  });

  form.addEventListener("change", function (e) {
    var el = e.target;
    if (el instanceof HTMLInputElement && el.name === "meal") {
      // Choosing a meal is choosing to charge it: an amount typed before is dropped.
      if (amount) amount.value = "";
      form.querySelectorAll("input.qty").forEach(function (q) { q.value = "0"; });
      setMode("meal");
    }
  });

  /* ---- barcode scan: a scanner types the code and Enter; the good's quantity goes up
   * by one and the till charges the item lines (the payment carries them). ---------- */
  var barcode = document.getElementById("till-barcode");
  var barcodeNote = document.getElementById("till-barcode-note");
  if (barcode) {
    barcode.addEventListener("keydown", function (e) {
      if (e.key !== "Enter") return;
      e.preventDefault();  // a scan adds a good; it does not take the payment
      var code = barcode.value.trim();
      barcode.value = "";
      if (!code) return;
      var found = null;
      form.querySelectorAll("input.qty[data-barcode]").forEach(function (q) {
        if (q.getAttribute("data-barcode") === code) found = q;
      });
      if (!found) {
        barcodeNote.textContent = barcode.getAttribute("data-text-unknown") + "：" + code;
        return;
      }
      found.value = String((parseInt(found.value, 10) || 0) + 1);
      barcodeNote.textContent = found.getAttribute("data-name") + " × " + found.value;
      setMode("items");
    });
  }

  function clearUsed() {
    if (amount) amount.value = "";
    form.querySelectorAll("input.qty").forEach(function (q) { q.value = "0"; });
    setMode("meal");
  }

  /* ---- sound ------------------------------------------------------------------- */
  var audio = null;
  var SOUND_KEY = "onecard.till.sound";
  try {
    if (localStorage.getItem(SOUND_KEY) === "off" && soundBox) soundBox.checked = false;
  } catch (err) { /* storage unavailable: sound stays on */ }
  if (soundBox) {
    soundBox.addEventListener("change", function () {
      try { localStorage.setItem(SOUND_KEY, soundBox.checked ? "on" : "off"); } catch (err) { /* ignore */ }
    });
  }

  function tone(ctx, freq, start, length, type, gain) {
    var osc = ctx.createOscillator();
    var amp = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    amp.gain.setValueAtTime(0.0001, ctx.currentTime + start);
    amp.gain.exponentialRampToValueAtTime(gain, ctx.currentTime + start + 0.01);
    amp.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + start + length);
    osc.connect(amp);
    amp.connect(ctx.destination);
    osc.start(ctx.currentTime + start);
    osc.stop(ctx.currentTime + start + length + 0.02);
  }

  function play(ok) {
    if (soundBox && !soundBox.checked) return;
    var Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return;
    try {
      audio = audio || new Ctor();
      if (audio.state === "suspended") audio.resume();
      if (ok) {
        tone(audio, 880, 0, 0.12, "sine", 0.3);
        tone(audio, 1320, 0.14, 0.16, "sine", 0.3);
      } else {
        tone(audio, 220, 0, 0.22, "square", 0.15);
        tone(audio, 180, 0.28, 0.3, "square", 0.15);
      }
    } catch (err) { /* no audio device: the verdict is on screen */ }
    form.setAttribute("data-sounded", ok ? "approved" : "refused");
  }

  /* ---- face pay ---------------------------------------------------------------- */
  var facePhoto = document.getElementById("face-photo");
  var faceVideo = document.getElementById("face-video");
  var faceStill = document.getElementById("face-still");
  var faceCamera = document.getElementById("face-camera");
  var faceSnap = document.getElementById("face-snap");
  var faceNote = document.getElementById("face-note");
  var faceAttested = document.getElementById("face-attested");
  var facePay = document.getElementById("face-pay");
  var MAX_SIDE = 640;  // a still this size is plenty for the face and a small upload

  function showStill(source, w, h) {
    var scale = Math.min(1, MAX_SIDE / Math.max(w, h));
    faceStill.width = Math.round(w * scale);
    faceStill.height = Math.round(h * scale);
    faceStill.getContext("2d").drawImage(source, 0, 0, faceStill.width, faceStill.height);
    faceStill.hidden = false;
    faceNote.textContent = faceNote.getAttribute("data-text-taken");
  }

  function clearFace() {
    if (!facePhoto) return;
    facePhoto.value = "";
    faceStill.hidden = true;
    faceNote.textContent = "";
    if (faceAttested) faceAttested.checked = false;
  }

  if (facePhoto) {
    if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.DataTransfer) {
      faceCamera.hidden = false;
    }
    faceCamera.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false })
        .then(function (stream) {
          faceVideo.srcObject = stream;
          faceVideo.hidden = false;
          faceSnap.hidden = false;
          faceCamera.hidden = true;
        })
        .catch(function () {
          faceNote.textContent = faceCamera.getAttribute("data-text-error");
          faceCamera.hidden = true;
        });
    });
    faceSnap.addEventListener("click", function () {
      if (!faceVideo.videoWidth) return;
      showStill(faceVideo, faceVideo.videoWidth, faceVideo.videoHeight);
      faceStill.toBlob(function (blob) {
        if (!blob) return;
        var dt = new DataTransfer();
        dt.items.add(new File([blob], "face.jpg", { type: "image/jpeg" }));
        facePhoto.files = dt.files;
      }, "image/jpeg", 0.9);
    });
    facePhoto.addEventListener("change", function () {
      var file = facePhoto.files && facePhoto.files[0];
      if (!file || !window.createImageBitmap) return;
      createImageBitmap(file).then(function (bmp) {
        showStill(bmp, bmp.width, bmp.height);
      }).catch(function () { faceStill.hidden = true; });
    });
  }

  // Enter in the digits field pays by face (the form's default button is the card's).
  form.addEventListener("keydown", function (e) {
    if (e.key !== "Enter" || !(e.target instanceof Element) || e.target.id !== "face-digits-input") return;
    e.preventDefault();
    if (facePay) facePay.click();
  });

  // A card or code payment carries no picture.
  document.addEventListener("htmx:configRequest", function (e) {
    if (e.target !== form || e.detail.path !== "/till/pay") return;
    delete e.detail.parameters.photo;
  });

  // A face payment refused before any decision (no face 422, no attestation, no liveness
  // 403) still shows its reason in the verdict box.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (!(e.target instanceof Element) || e.target.id !== "till-out") return;
    var status = e.detail.xhr.status;
    if (status === 403 || status === 409 || status === 422) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  /* ---- after each answer --------------------------------------------------------- */
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!(e.target instanceof Element) || e.target.id !== "till-out") return;
    var verdict = document.getElementById("till-verdict");
    if (!verdict) return;
    var result = verdict.getAttribute("data-result");
    var ok = result === "approved" || result === "reversed";
    if (result === "approved") clearUsed();
    if (result === "pending") return; // e-CNY still being confirmed: no verdict tone yet
    if (result === "need_digits") {  // the same picture goes again with the digits
      var digits = document.getElementById("face-digits-input");
      if (digits) digits.focus();
      return;
    }
    if (verdict.getAttribute("data-channel") === "face" && !verdict.hasAttribute("data-kept")) {
      clearFace();  // a decision was made: the next diner is photographed and attested anew
    }
    play(ok);
  });

  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.target !== form) return;
    if (document.getElementById("face-digits-input")) return; // the digits field keeps focus
    var input = document.getElementById("credential");
    if (input) {
      input.value = "";
      input.focus();
    }
  });

  setMode(currentMode());
})();
