/* The payment page: the provider's hosted fields hand a card token over; nothing else runs here. */
(function () {
  "use strict";
  var form = document.getElementById("pay-form");
  if (!form) { return; }
  var token = document.getElementById("card-token"), label = document.getElementById("card-label");
  var summary = document.getElementById("card-summary"), button = document.getElementById("pay");
  function ready(t, l) {
    token.value = t; label.value = l || "";
    summary.textContent = "Card " + (l || "") + " ready.";
    button.disabled = false; button.focus();
  }
  // The sandbox's hosted fields (same origin, like a PSP's iframe) post the token when the card is valid.
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data || event.data.type !== "voltline-card-token") { return; }
    ready(event.data.token, event.data.label);
  });
  // Stripe: Elements collects the card, createPaymentMethod gives the pm_... token billing holds with.
  var box = document.getElementById("card-element");
  if (box && window.Stripe) {
    var stripe = window.Stripe(box.dataset.key), card = stripe.elements().create("card");
    card.mount(box);
    card.on("change", function (event) {
      if (!event.complete) { return; }
      stripe.createPaymentMethod({ type: "card", card: card }).then(function (result) {
        if (result.error) { summary.textContent = result.error.message; return; }
        var c = result.paymentMethod.card;
        ready(result.paymentMethod.id, c.brand + " •••• " + c.last4);
      });
    });
  }
  form.addEventListener("submit", function () { button.disabled = true; button.textContent = "Starting…"; });
})();
