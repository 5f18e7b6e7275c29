/* ecom_ai chat bubble: talks to /ecom-ai/api/v1/chat/messages/. No dependencies.
   All text goes in with textContent (never innerHTML): shopper and staff text is shown as-is. */
(function () {
  "use strict";
  var root = document.getElementById("ecom-ai-chat");
  if (!root || root.dataset.ready) { return; }
  root.dataset.ready = "1";
  var endpoint = root.dataset.endpoint;
  var csrf = root.dataset.csrf;
  var pollMs = Math.max(2, parseInt(root.dataset.poll, 10) || 5) * 1000;
  var bubble = root.querySelector(".ecom-ai-chat__bubble");
  var panel = root.querySelector(".ecom-ai-chat__panel");
  var log = root.querySelector(".ecom-ai-chat__log");
  var form = root.querySelector(".ecom-ai-chat__form");
  var input = root.querySelector(".ecom-ai-chat__input");
  var send = root.querySelector(".ecom-ai-chat__send");
  var errorBox = root.querySelector(".ecom-ai-chat__error");
  var waitingBox = root.querySelector(".ecom-ai-chat__waiting");
  var OPEN_KEY = "ecomAiChatOpen";
  var lastId = 0;
  var seen = {};
  var timer = null;
  var WHO = { shopper: "You", bot: "Assistant", staff: "Customer service" };

  function safeUrl(url) {
    return typeof url === "string" && (/^https?:\/\//.test(url) || (url.charAt(0) === "/" && url.charAt(1) !== "/")) ? url : "";
  }

  function render(message) {
    if (seen[message.id]) { return; }
    seen[message.id] = true;
    lastId = Math.max(lastId, message.id);
    var li = document.createElement("li");
    li.className = "ecom-ai-chat__msg ecom-ai-chat__msg--" + message.sender;
    li.dataset.id = message.id;
    var who = document.createElement("span");
    who.className = "ecom-ai-chat__who";
    who.textContent = WHO[message.sender] || message.sender;
    li.appendChild(who);
    var body = document.createElement("span");
    body.className = "ecom-ai-chat__text";
    body.textContent = message.text;
    li.appendChild(body);
    var sources = (message.sources || []).filter(function (s) { return s && s.label && s.type !== "llm"; });
    if (sources.length && message.sender === "bot") {
      var src = document.createElement("span");
      src.className = "ecom-ai-chat__sources";
      src.appendChild(document.createTextNode("Source: "));
      sources.forEach(function (s, i) {
        if (i) { src.appendChild(document.createTextNode(", ")); }
        var url = safeUrl(s.url);
        var node = document.createElement(url ? "a" : "span");
        if (url) { node.href = url; }
        node.textContent = s.label;
        src.appendChild(node);
      });
      li.appendChild(src);
    }
    var suggestions = (message.suggestions || []).filter(function (s) { return typeof s === "string" && s; });
    if (suggestions.length && message.sender === "bot") {
      var row = document.createElement("span");
      row.className = "ecom-ai-chat__suggestions";
      suggestions.forEach(function (label) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "ecom-ai-chat__suggestion";
        button.textContent = label;
        button.addEventListener("click", function () { sendText(label); });
        row.appendChild(button);
      });
      li.appendChild(row);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function showStatus(conversation) {
    if (!waitingBox) { return; }
    waitingBox.hidden = !(conversation && conversation.waiting_for_staff);
  }

  function handle(data) {
    (data.messages || []).forEach(render);
    if ("conversation" in data) { showStatus(data.conversation); }
  }

  function showError(text) {
    errorBox.textContent = text || "";
    errorBox.hidden = !text;
  }

  function request(method, body) {
    var url = endpoint + (method === "GET" ? "?after=" + lastId : "");
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.detail || ("Error " + response.status)); }
        return data;
      });
    });
  }

  // lastId is the newest message this page has shown; every GET and POST asks the server for all
  // messages after it, so a staff reply stored between two polls arrives with the next answer
  function poll() {
    return request("GET").then(handle).catch(function () { /* offline for a moment: next tick */ });
  }

  function greet() {
    if (!log.children.length && root.dataset.greeting) {
      var li = document.createElement("li");
      li.className = "ecom-ai-chat__msg ecom-ai-chat__msg--bot ecom-ai-chat__greeting";
      li.textContent = root.dataset.greeting;
      log.appendChild(li);
    }
  }

  function open() {
    panel.hidden = false;
    bubble.setAttribute("aria-expanded", "true");
    try { sessionStorage.setItem(OPEN_KEY, "1"); } catch (e) { /* private mode */ }
    poll().then(greet);
    if (!timer) { timer = setInterval(poll, pollMs); }
    input.focus();
  }

  function close() {
    panel.hidden = true;
    bubble.setAttribute("aria-expanded", "false");
    try { sessionStorage.removeItem(OPEN_KEY); } catch (e) { /* private mode */ }
    if (timer) { clearInterval(timer); timer = null; }
  }

  bubble.addEventListener("click", function () { if (panel.hidden) { open(); } else { close(); } });
  root.querySelector(".ecom-ai-chat__close").addEventListener("click", close);
  function sendText(text, fromInput) {
    if (!text || send.disabled) { return; }
    send.disabled = true;
    showError("");
    request("POST", { text: text, after: lastId }).then(function (data) {
      if (fromInput) { input.value = ""; }
      handle(data);
    }).catch(function (err) { showError(err.message); })
      .then(function () { send.disabled = false; input.focus(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendText(input.value.trim(), true);
  });

  var wasOpen = false;
  try { wasOpen = sessionStorage.getItem(OPEN_KEY) === "1"; } catch (e) { /* private mode */ }
  if (wasOpen) { open(); }
}());
