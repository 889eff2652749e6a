// Results as you type for the search box of every page. Without JavaScript the form
// submits to the result page; with it, the same results (the result page's own list,
// asked with partial=1) appear under the box. Keyboard: arrows move, Enter opens,
// Escape closes. Results are taken from the server's HTML through DOMParser (inert)
// and copied as text: nothing is inserted as markup.
(function () {
  "use strict";
  var form = document.querySelector("form.search");
  if (!form || !window.fetch || !window.DOMParser) return;
  var input = form.querySelector("input[name=q]");
  var scope = form.querySelector("input[name=cs]");
  var list = document.createElement("ul");
  list.id = "q-suggest";
  list.className = "suggest";
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Matching codes");
  list.hidden = true;
  form.appendChild(list);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  var timer = null, seq = 0, active = -1, options = [];

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  }
  function select(i) {
    if (active >= 0 && options[active]) options[active].setAttribute("aria-selected", "false");
    active = i;
    if (i < 0) { input.removeAttribute("aria-activedescendant"); return; }
    options[i].setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", options[i].id);
    options[i].scrollIntoView({ block: "nearest" });
  }
  function show(doc) {
    list.textContent = "";
    options = [];
    active = -1;
    var groups = doc.querySelectorAll("ul.hits");
    groups.forEach(function (ul) {
      var section = ul.closest("section");
      var heading = section && section.querySelector("h2");
      if (heading && groups.length > 1) {
        var g = document.createElement("li");
        g.className = "group";
        g.setAttribute("role", "presentation");
        g.textContent = heading.textContent;
        list.appendChild(g);
      }
      ul.querySelectorAll("a").forEach(function (a) {
        var li = document.createElement("li");
        li.id = "q-opt-" + options.length;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.dataset.href = a.getAttribute("href");
        var code = a.querySelector(".code"), title = a.querySelector(".title"), badge = a.querySelector(".badge");
        var c = document.createElement("span");
        c.className = "code";
        c.textContent = code ? code.textContent : "";
        li.appendChild(c);
        li.appendChild(document.createTextNode(" " + (title ? title.textContent : "")));
        if (badge) {
          var b = document.createElement("span");
          b.className = badge.className;
          b.textContent = badge.textContent;
          li.appendChild(b);
        }
        li.addEventListener("mousedown", function (e) { e.preventDefault(); window.location.href = li.dataset.href; });
        list.appendChild(li);
        options.push(li);
      });
    });
    if (options.length) {
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    } else {
      close();
    }
  }
  function ask() {
    var q = input.value;
    if (!q.trim()) { close(); return; }
    var mine = ++seq;
    var url = form.getAttribute("data-suggest") + "?partial=1&q=" + encodeURIComponent(q) +
      (scope ? "&cs=" + encodeURIComponent(scope.value) : "");
    fetch(url, { headers: { Accept: "text/html" } })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (mine !== seq) return;  // a later keystroke has asked again
        show(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () { close(); });
  }
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 120);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "ArrowDown" && options.length) {
      e.preventDefault();
      if (list.hidden) { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
      select(Math.min(active + 1, options.length - 1));
    } else if (e.key === "ArrowUp" && options.length) {
      e.preventDefault();
      select(Math.max(active - 1, 0));
    } else if (e.key === "Enter" && active >= 0 && !list.hidden) {
      e.preventDefault();
      window.location.href = options[active].dataset.href;
    } else if (e.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", function () { setTimeout(close, 150); });
})();
