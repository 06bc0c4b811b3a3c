// Starts GraphiQL with the settings the page carries in #playground-config. It lives in
// its own file so that the page's Content-Security-Policy can refuse inline scripts.
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('playground-config').textContent);

  // Same origin as the page, so that the API needs no CORS for its own playground.
  var url = new URL(config.endpoint, window.location.href);
  var socket = new URL(url.href);
  socket.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: socket.href });

  // Every tab's headers pane starts with a hint where the token goes. A header still
  // holding the hint is left out, so that the examples run anonymously until a real token
  // is pasted (the server answers a malformed token with 401 instead).
  function withoutHints(opts) {
    if (!opts || !opts.headers) {
      return opts;
    }
    var headers = {};
    Object.keys(opts.headers).forEach(function (name) {
      var value = opts.headers[name];
      if (typeof value !== 'string' || value.indexOf(config.tokenHint) < 0) {
        headers[name] = value;
      }
    });
    return Object.assign({}, opts, { headers: headers });
  }

  function fetch(params, opts) {
    return fetcher(params, withoutHints(opts));
  }

  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(
      GraphiQL,
      {
        fetcher: fetch,
        defaultTabs: config.tabs,
        defaultHeaders: config.headers,
        isHeadersEditorEnabled: true,
        defaultEditorToolsVisibility: true,
      },
      React.createElement(GraphiQL.Logo, null, 'Inkwell')
    )
  );
})();
