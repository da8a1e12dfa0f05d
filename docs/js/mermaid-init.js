// Renders the ```mermaid blocks of the docs (pymdownx.superfences' custom fence).
window.addEventListener("load", function () {
  if (window.mermaid) {
    window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
    window.mermaid.run({ querySelector: "div.mermaid" });
  }
});
