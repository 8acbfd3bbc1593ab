// SwarmWeb live run view glue for htmx's websocket extension.
//  - every (re)connect asks the server only for events after the last one on
//    the page (the page tracks it in #run-seq), so reconnects lose nothing;
//  - an event already applied (same or lower sequence) is ignored.
(function () {
  "use strict";

  function lastSeq() {
    var el = document.getElementById("run-seq");
    return el ? parseInt(el.getAttribute("data-seq") || "0", 10) : 0;
  }

  function withAfter(url) {
    var clean = url.replace(/([?&])after=\d+&?/, "$1").replace(/[?&]$/, "");
    return clean + (clean.indexOf("?") >= 0 ? "&" : "?") + "after=" + lastSeq();
  }

  htmx.createWebSocket = function (url) {
    var socket = new WebSocket(withAfter(url));
    socket.binaryType = htmx.config.wsBinaryType;
    return socket;
  };

  document.addEventListener("htmx:wsBeforeMessage", function (evt) {
    var match = /id="run-seq" data-seq="(\d+)"/.exec(evt.detail.message);
    if (match && parseInt(match[1], 10) <= lastSeq()) {
      evt.preventDefault();
    }
  });

  function setLive(on) {
    var el = document.getElementById("live-indicator");
    if (el) el.classList.toggle("on", on);
  }
  document.addEventListener("htmx:wsOpen", function () { setLive(true); });
  document.addEventListener("htmx:wsClose", function () { setLive(false); });
})();
