// Watch a running re-index: poll its status and update the progress bar.
(function () {
  var box = document.getElementById("index");
  if (!box) return;
  var state = document.getElementById("index-state");
  var bar = document.getElementById("index-progress");
  var stages = { chunk: "切块", embed: "向量化" };
  function poll() {
    fetch(box.getAttribute("data-status-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.running) {
          bar.hidden = false; bar.max = s.total || 1; bar.value = s.done;
          state.textContent = "正在更新：" + (stages[s.stage] || s.stage) + " " + s.done + "/" + s.total;
          setTimeout(poll, 1000);
        } else if (s.error) {
          bar.hidden = true; state.textContent = "上次索引失败：" + s.error + "（原索引仍在使用，文档没有丢失）";
        } else if (s.report && s.report.build) {
          bar.hidden = true;
          state.textContent = "索引已更新：新增 " + s.report.added.length + "，更新 " + s.report.updated.length +
            "，删除 " + s.report.removed.length + "，用时 " + s.report.seconds + " 秒";
        }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();

// In the edit form, show only the fields that apply to the chosen kind.
(function () {
  var kind = document.getElementById("f-kind");
  if (!kind) return;
  function sync() {
    document.querySelectorAll(".field[data-kinds]").forEach(function (field) {
      var kinds = field.getAttribute("data-kinds").split(" ");
      field.hidden = kinds.indexOf(kind.value) < 0;
    });
  }
  kind.addEventListener("change", sync);
  sync();
})();
