// Swagger UI's start, as a file of our own: the Content-Security-Policy allows no inline script.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    urls: [
      { url: "/openapi.json", name: "ltc-gateway API" },
      { url: "/openapi/payer.json", name: "what a REST payer implements" },
    ],
    "urls.primaryName": "ltc-gateway API",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: false,
    validatorUrl: "none", // never send the description to an online validator
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout",
  });
});
