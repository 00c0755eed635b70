/* The sandbox provider's hosted fields: the card number goes to the provider only, the page gets a token. */
(function () {
  "use strict";
  var form = document.getElementById("card-form"), message = document.getElementById("card-message");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    message.textContent = "Checking…";
    fetch("/sandbox/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        number: document.getElementById("card-number").value,
        expiry: document.getElementById("card-expiry").value,
        cvc: document.getElementById("card-cvc").value
      })
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (result) {
      if (!result.ok) { message.textContent = result.body.detail || "This card number is not valid."; return; }
      message.textContent = "Card accepted: " + result.body.label;
      window.parent.postMessage({ type: "voltline-card-token", token: result.body.token, label: result.body.label },
                                window.location.origin);
    }).catch(function () { message.textContent = "The payment provider did not answer. Try again."; });
  });
})();
