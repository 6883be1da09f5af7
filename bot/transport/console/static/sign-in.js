"use strict";
(async function () {
  const response = await fetch("/console/sign-in/options", { credentials: "same-origin" });
  const options = await response.json();
  if (options.oidc) {
    document.getElementById("oidc").hidden = false;
  }
  if (options.demoExperts.length) {
    const box = document.getElementById("experts");
    options.demoExperts.forEach(function (expert, index) {
      const id = "expert-" + index;
      const row = document.createElement("div");
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "expert";
      input.id = id;
      input.value = expert.id;
      input.checked = index === 0;
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = expert.name;
      row.append(input, label);
      box.append(row);
    });
    document.getElementById("dev").hidden = false;
  }
  if (!options.oidc && !options.demoExperts.length) {
    document.getElementById("off").hidden = false;
  }
})();
