// Starts GraphiQL against orchard's GraphQL endpoint. The API token lives in
// localStorage and goes out as "Authorization: Bearer <token>" on HTTP and in
// the graphql-transport-ws connection_init payload for subscriptions.
(function () {
  'use strict';

  var TOKEN_KEY = 'orchard.graphiql.token';

  var endpoint = document.querySelector('meta[name="orchard-graphql-endpoint"]').content;
  var httpURL = new URL(endpoint, window.location.href);
  var wsURL = new URL(httpURL.href);
  wsURL.protocol = httpURL.protocol === 'https:' ? 'wss:' : 'ws:';

  var form = document.getElementById('orchard-bar');
  var input = document.getElementById('orchard-token');
  var forget = document.getElementById('orchard-forget');
  var state = document.getElementById('orchard-token-state');
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));

  function storedToken() {
    try {
      return window.localStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return ''; // storage disabled: the token lasts for this page only
    }
  }

  function storeToken(token) {
    try {
      if (token) {
        window.localStorage.setItem(TOKEN_KEY, token);
      } else {
        window.localStorage.removeItem(TOKEN_KEY);
      }
    } catch (e) {
      // storage disabled: nothing to keep
    }
  }

  // A new fetcher per token: GraphiQL reloads the schema when the fetcher
  // changes, and idle websocket clients of old tokens close by themselves.
  function fetcherFor(token) {
    var auth = token ? { Authorization: 'Bearer ' + token } : {};
    return GraphiQL.createFetcher({
      url: httpURL.href,
      subscriptionUrl: wsURL.href,
      headers: auth,
      wsConnectionParams: auth
    });
  }

  function render(token) {
    state.textContent = token ? 'token set' : 'no token: requests are unauthenticated';
    state.className = token ? '' : 'orchard-missing';
    root.render(React.createElement(GraphiQL, {
      fetcher: fetcherFor(token),
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false
    }));
  }

  function useToken(token) {
    token = token.trim();
    if (token === storedToken() && state.textContent) {
      return;
    }
    storeToken(token);
    render(token);
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    useToken(input.value);
  });
  input.addEventListener('change', function () {
    useToken(input.value);
  });
  forget.addEventListener('click', function () {
    input.value = '';
    useToken('');
  });

  input.value = storedToken();
  render(input.value);
})();
