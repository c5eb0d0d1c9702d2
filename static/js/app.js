// Small behaviours shared by every page: copy-to-clipboard buttons and confirmations.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const target = document.querySelector(button.dataset.copy);
  if (!target) return;
  navigator.clipboard.writeText(target.textContent.trim()).then(() => {
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  });
});

// Behaviours declared in the markup, so the Content-Security-Policy needs no inline script:
// <form data-confirm="Sure?">, <select data-auto-submit>, <button data-toggle-open="#sidebar">.
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-auto-submit]");
  if (field && field.form) field.form.requestSubmit();
});
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-toggle-open]");
  if (!button) return;
  const target = document.querySelector(button.dataset.toggleOpen);
  if (target) target.classList.toggle("open");
});
