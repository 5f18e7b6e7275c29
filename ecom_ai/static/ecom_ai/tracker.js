/*!
 * ecom_ai JavaScript collector. Dependency-free, no build step.
 *
 *   window.ecomAI.track(type, {item_key, quantity, value, context})
 *
 * - sends a "page_view" on load and a "view" for every element with
 *   data-ecom-ai-view="<item key>"; a "click" for clicks on elements with
 *   data-ecom-ai-click (its value, or the closest data-ecom-ai-item, is the item key);
 *   data-ecom-ai-context='{"list": "home"}' on the element or an ancestor adds context;
 * - queues events in localStorage (memory when unavailable), so events survive page
 *   changes; flushes every `flushInterval` ms, when `batchSize` events are waiting, and
 *   when the page is hidden or left, with `fetch(..., {keepalive: true})`, which outlives the
 *   page like navigator.sendBeacon but, unlike it, can carry the X-CSRFToken header the
 *   events endpoint requires from browsers (a beacon would always get 403); whatever did
 *   not go out is still in localStorage and leaves with the next page;
 * - every event has a client_event_id (crypto.randomUUID or a fallback): a batch that is
 *   sent twice (retry after a lost response, two tabs, unload + next page) is stored once;
 * - failed batches (network errors, 408/429/5xx) stay queued and are retried with
 *   exponential backoff; events the server refuses (other 4xx) are dropped — only the bad
 *   ones when a 400 lists them, so one bad event does not take its batch down.
 *
 * Configuration comes from <script id="ecom-ai-config" type="application/json"> written by
 * the {% ecom_ai_tracker %} template tag.
 */
(function (window, document) {
  "use strict";
  if (window.ecomAI && window.ecomAI.loaded) return;

  var QUEUE_KEY = "ecom_ai:queue";
  var RETRY_KEY = "ecom_ai:retry";
  var MAX_QUEUE = 1000;              // older events are dropped past this
  var MAX_EVENT_AGE_MS = 7 * 864e5;  // events older than a week are dropped, not sent
  var MAX_ATTEMPTS = 12;             // a batch failing this often is dropped
  var BACKOFF_BASE_MS = 2000;
  var BACKOFF_MAX_MS = 5 * 60 * 1000;
  var KEEPALIVE_LIMIT = 60000;       // bytes; browsers cap keepalive bodies at 64 KiB

  function readConfig() {
    var cfg = {
      endpoint: "/ecom-ai/api/v1/events/", channel: "web", batchSize: 20,
      flushInterval: 5000, csrfToken: "", serverTime: null, autoPageView: true, debug: false
    };
    var el = document.getElementById("ecom-ai-config");
    if (el) {
      try {
        var given = JSON.parse(el.textContent || "{}");
        for (var k in given) if (Object.prototype.hasOwnProperty.call(given, k)) cfg[k] = given[k];
      } catch (e) { /* keep defaults */ }
    }
    cfg.batchSize = Math.max(1, Math.min(500, parseInt(cfg.batchSize, 10) || 20));
    cfg.flushInterval = Math.max(250, parseInt(cfg.flushInterval, 10) || 5000);
    return cfg;
  }

  var cfg = readConfig();
  // The server rejects client times too far ahead of its clock: correct for a wrong local clock.
  var clockOffset = 0;
  if (cfg.serverTime) {
    var serverMs = Date.parse(cfg.serverTime);
    if (!isNaN(serverMs)) clockOffset = serverMs - Date.now();
  }

  function log() {
    if (cfg.debug && window.console) window.console.log.apply(window.console, ["[ecomAI]"].concat([].slice.call(arguments)));
  }

  // --- ids ------------------------------------------------------------------------------
  function uuid() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === "function") {
      try { return c.randomUUID(); } catch (e) { /* insecure context: fall through */ }
    }
    var b = new Array(16), i;
    if (c && typeof c.getRandomValues === "function") {
      var arr = new Uint8Array(16);
      c.getRandomValues(arr);
      for (i = 0; i < 16; i++) b[i] = arr[i];
    } else {
      for (i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = b.map(function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  // --- storage: localStorage with a memory fallback ----------------------------------------
  var memory = {};
  var storage = (function () {
    try {
      var s = window.localStorage, probe = "ecom_ai:probe";
      s.setItem(probe, "1");
      s.removeItem(probe);
      return s;
    } catch (e) { return null; }
  })();

  function load(key, fallback) {
    try {
      var raw = storage ? storage.getItem(key) : memory[key];
      return raw ? JSON.parse(raw) : fallback;
    } catch (e) { return fallback; }
  }

  function save(key, value) {
    var raw = JSON.stringify(value);
    if (storage) {
      try { storage.setItem(key, raw); return; } catch (e) { /* quota: keep in memory */ }
    }
    memory[key] = raw;
  }

  function loadQueue() {
    var q = load(QUEUE_KEY, []);
    if (!Array.isArray(q)) return [];
    var oldest = Date.now() + clockOffset - MAX_EVENT_AGE_MS;
    return q.filter(function (e) {
      return e && typeof e === "object" && e.client_event_id && Date.parse(e.client_time) > oldest;
    });
  }

  function saveQueue(q) {
    if (q.length > MAX_QUEUE) q = q.slice(q.length - MAX_QUEUE);
    save(QUEUE_KEY, q);
  }

  function removeFromQueue(ids) {
    var gone = {};
    ids.forEach(function (id) { gone[id] = true; });
    saveQueue(loadQueue().filter(function (e) { return !gone[e.client_event_id]; }));
  }

  // --- public API -----------------------------------------------------------------------------
  function track(type, data) {
    data = data || {};
    if (typeof type !== "string" || !type) throw new Error("ecomAI.track: type must be a non-empty string");
    var event = {
      event_type: type,
      channel: data.channel || cfg.channel,
      client_event_id: data.client_event_id || uuid(),
      client_time: new Date(Date.now() + clockOffset).toISOString(),
      context: data.context && typeof data.context === "object" && !Array.isArray(data.context) ? data.context : {}
    };
    if (data.item_key !== undefined && data.item_key !== null && data.item_key !== "") event.item_key = String(data.item_key);
    if (data.quantity !== undefined && data.quantity !== null) event.quantity = parseInt(data.quantity, 10);
    if (data.value !== undefined && data.value !== null) event.value = String(data.value);
    var q = loadQueue();
    q.push(event);
    saveQueue(q);
    log("queued", event);
    if (q.length >= cfg.batchSize) setTimeout(flush, 0);
    return event.client_event_id;
  }

  // --- sending -------------------------------------------------------------------------------
  var inFlight = false;

  function headers() {
    var h = { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" };
    if (cfg.csrfToken) h["X-CSRFToken"] = cfg.csrfToken;
    return h;
  }

  function retryState() {
    var r = load(RETRY_KEY, null);
    return r && typeof r === "object" ? r : { attempts: 0, nextAt: 0 };
  }

  function scheduleRetry() {
    var r = retryState();
    r.attempts = (r.attempts || 0) + 1;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * Math.pow(2, r.attempts - 1));
    r.nextAt = Date.now() + Math.round(delay * (0.75 + Math.random() * 0.5));
    save(RETRY_KEY, r);
    return r;
  }

  function isRetryable(status) {
    return status === 0 || status === 408 || status === 425 || status === 429 || status >= 500;
  }

  // Flush one batch. opts.unload: the page is being hidden or left — send without waiting
  // for the backoff, and with a transport that outlives the page.
  function flush(opts) {
    opts = opts || {};
    var q = loadQueue();
    if (!q.length || inFlight) return Promise.resolve(false);
    var retry = retryState();
    if (!opts.unload && !opts.force && retry.nextAt && Date.now() < retry.nextAt) return Promise.resolve(false);

    var batch = q.slice(0, cfg.batchSize);
    var ids = batch.map(function (e) { return e.client_event_id; });
    var body = JSON.stringify({ events: batch });

    if (typeof window.fetch !== "function") return Promise.resolve(false);  // very old browser

    var init = { method: "POST", headers: headers(), body: body, credentials: "same-origin" };
    if (body.length < KEEPALIVE_LIMIT) init.keepalive = true;
    var request;
    try {
      request = window.fetch(cfg.endpoint, init);
    } catch (e) {
      // keepalive refused (its 64 KiB quota is used up): the events stay queued for later
      return Promise.resolve(false);
    }
    inFlight = true;
    return request.then(function (response) {
      inFlight = false;
      if (response.ok) {
        removeFromQueue(ids);
        save(RETRY_KEY, { attempts: 0, nextAt: 0 });
        log("sent", batch.length, "events");
        // more waiting? keep going
        if (loadQueue().length >= cfg.batchSize) setTimeout(flush, 0);
        return true;
      }
      if (isRetryable(response.status)) {
        handleFailure(ids, "HTTP " + response.status);
        return false;
      }
      // The server refused the batch for good (bad input, CSRF...): retrying it cannot help.
      // A 400 lists the bad events by index: drop those, the others go with the next flush.
      return response.json().catch(function () { return null; }).then(function (reply) {
        var bad = reply && reply.errors && typeof reply.errors === "object" ? reply.errors : null;
        var dropped = bad ? ids.filter(function (id, i) { return bad.hasOwnProperty(String(i)); }) : ids;
        if (!dropped.length) dropped = ids;
        removeFromQueue(dropped);
        save(RETRY_KEY, { attempts: 0, nextAt: 0 });
        if (window.console) {
          window.console.warn("[ecomAI] the server refused " + dropped.length + " event(s) (HTTP " +
                              response.status + "); dropped", bad || "");
        }
        return false;
      });
    }, function (err) {
      inFlight = false;
      handleFailure(ids, err && err.message);
      return false;
    });
  }

  function handleFailure(ids, why) {
    var r = scheduleRetry();
    log("send failed (" + why + "), attempt", r.attempts);
    if (r.attempts >= MAX_ATTEMPTS) {
      removeFromQueue(ids);
      save(RETRY_KEY, { attempts: 0, nextAt: 0 });
    }
  }

  // --- automatic events ------------------------------------------------------------------------
  function contextOf(el) {
    var ctx = {};
    var node = el && el.closest ? el.closest("[data-ecom-ai-context]") : null;
    if (node) {
      try {
        var parsed = JSON.parse(node.getAttribute("data-ecom-ai-context"));
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) ctx = parsed;
      } catch (e) { /* ignore malformed context */ }
    }
    ctx.path = window.location.pathname;
    return ctx;
  }

  function trackPage() {
    if (cfg.autoPageView) {
      track("page_view", { context: {
        path: window.location.pathname,
        query: window.location.search.slice(0, 200),
        title: (document.title || "").slice(0, 200),
        referrer: (document.referrer || "").slice(0, 300)
      } });
    }
    var seen = {};
    var nodes = document.querySelectorAll("[data-ecom-ai-view]");
    for (var i = 0; i < nodes.length; i++) {
      var key = nodes[i].getAttribute("data-ecom-ai-view");
      if (key && !seen[key]) {
        seen[key] = true;
        track("view", { item_key: key, context: contextOf(nodes[i]) });
      }
    }
  }

  function onClick(ev) {
    var target = ev.target && ev.target.closest ? ev.target.closest("[data-ecom-ai-click]") : null;
    if (!target) return;
    var key = target.getAttribute("data-ecom-ai-click");
    if (!key) {
      var holder = target.closest("[data-ecom-ai-item]");
      key = holder ? holder.getAttribute("data-ecom-ai-item") : "";
    }
    track("click", { item_key: key || undefined, context: contextOf(target) });
  }

  function onHide() { flush({ unload: true }); }

  var api = window.ecomAI && typeof window.ecomAI === "object" ? window.ecomAI : {};
  var early = Array.isArray(api.q) ? api.q : [];  // calls made before this script loaded
  api.loaded = true;
  api.track = track;
  api.flush = function () { return flush({ force: true }); };
  api.pending = function () { return loadQueue().length; };
  api.config = cfg;
  window.ecomAI = api;
  early.forEach(function (args) { try { track.apply(null, args); } catch (e) { /* ignore */ } });

  document.addEventListener("click", onClick, true);
  window.addEventListener("pagehide", onHide);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") onHide();
  });

  function start() {
    trackPage();
    setTimeout(flush, 0);  // also sends what earlier pages left behind
    setInterval(flush, cfg.flushInterval);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})(window, document);
