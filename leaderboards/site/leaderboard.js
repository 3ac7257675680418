/* evalsuite leaderboard table: builds rows from the embedded JSON, sorts on header click, filters by name.
   Every value goes in through textContent, never innerHTML, so model and task names stay text.
   The default order is the ranking (data.models comes ranked); sorting by Overall keeps ranked rows
   before partial-coverage ones, whose overall averages fewer categories and is not comparable. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("leaderboard-data").textContent);
  var table = document.getElementById("leaderboard");
  var body = table.tBodies[0];
  var filter = document.getElementById("filter");
  var counter = document.getElementById("row-count");
  var state = { key: "rank", descending: false };
  var position = {};
  data.models.forEach(function (model, i) { position[model.model] = i; });

  function fmt(x) { return (x === null || x === undefined) ? "" : x.toFixed(3); }

  function scoreCell(row, cell) {
    var td = document.createElement("td");
    td.className = "num";
    if (!cell) {
      td.textContent = "\u2014";
      td.classList.add("muted");
      return td;
    }
    td.appendChild(document.createTextNode(fmt(cell.score)));
    if (cell.ci) {
      var span = document.createElement("span");
      span.className = "ci";
      span.textContent = " [" + fmt(cell.ci[0]) + ", " + fmt(cell.ci[1]) + "]";
      td.appendChild(span);
    }
    if (cell.label) {  /* energy: "estimated" or "measured", never shown bare */
      var tag = document.createElement("span");
      tag.className = "label";
      tag.textContent = " (" + (cell.label === "estimated" ? "est." : "meas.") + ")";
      tag.title = cell.label;
      td.appendChild(tag);
    }
    return td;
  }

  function value(model, key) {
    if (key === "rank") { return position[model.model]; }
    if (key === "model") { return model.model; }
    if (key === "coverage") { return model.coverage; }
    var cell = key === "overall" ? model.overall : model.categories[key];
    return cell ? cell.score : null;
  }

  function render() {
    var key = state.key, sign = state.descending ? -1 : 1;
    var models = data.models.slice().sort(function (a, b) {
      if (key === "overall" && a.partial !== b.partial) { return a.partial ? 1 : -1; }
      var x = value(a, key), y = value(b, key);
      if (x === null && y === null) { return 0; }
      if (x === null) { return 1; }          // missing scores sort last either way
      if (y === null) { return -1; }
      if (typeof x === "string") { return sign * x.localeCompare(y); }
      return sign * (x - y);
    });
    var needle = filter.value.trim().toLowerCase();
    body.textContent = "";
    var shown = 0;
    models.forEach(function (model) {
      var tr = document.createElement("tr");
      tr.dataset.model = model.model;
      if (model.partial) { tr.classList.add("partial"); }
      var rank = document.createElement("td");
      rank.className = "num rank";
      rank.textContent = model.rank_label || "\u2014";
      if (model.tied_with && model.tied_with.length) {
        rank.title = "95% intervals overlap with: " + model.tied_with.join(", ");
      } else if (model.partial) {
        rank.title = "not ranked: " + model.coverage_label;
      }
      tr.appendChild(rank);
      var name = document.createElement("td");
      name.className = "model";
      var link = document.createElement("a");
      link.setAttribute("href", "models/" + model.slug + ".html");
      link.textContent = model.model;
      name.appendChild(link);
      tr.appendChild(name);
      tr.appendChild(scoreCell(model, model.overall));
      data.categories.forEach(function (c) { tr.appendChild(scoreCell(model, model.categories[c])); });
      var coverage = document.createElement("td");
      coverage.className = "num";
      coverage.textContent = model.coverage_label;
      if (model.partial) { coverage.classList.add("partial-mark"); }
      tr.appendChild(coverage);
      tr.hidden = needle !== "" && model.model.toLowerCase().indexOf(needle) === -1;
      if (!tr.hidden) { shown += 1; }
      body.appendChild(tr);
    });
    counter.textContent = shown + " of " + models.length + " models";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      if (th.dataset.key === key) {
        th.setAttribute("aria-sort", state.descending ? "descending" : "ascending");
      } else {
        th.removeAttribute("aria-sort");
      }
    });
  }

  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.classList.add("sortable");
    th.addEventListener("click", function () {
      if (state.key === th.dataset.key) {
        state.descending = !state.descending;
      } else {
        state.key = th.dataset.key;
        // names A-Z and ranks best first; scores highest first
        state.descending = th.dataset.key !== "model" && th.dataset.key !== "rank";
      }
      render();
    });
  });
  filter.addEventListener("input", render);
  render();
})();
