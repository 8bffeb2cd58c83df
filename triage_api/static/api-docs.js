// Starts Swagger UI on the API docs page (triage_api/api_docs.py). A file of its own, not an inline
// script: the page's Content-Security-Policy allows scripts from this origin only.
"use strict";

(function () {
  const root = document.getElementById("swagger-ui");
  SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    // The default sends the whole schema to validator.swagger.io: nothing leaves this origin.
    validatorUrl: null,
    // Never load a schema or configuration named in the page's query string (?url=, ?configUrl=).
    queryConfigEnabled: false,
    deepLinking: true,
    // Shows each operation's x-roles (the roles allowed to call it).
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
