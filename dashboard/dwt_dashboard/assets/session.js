// An ended session: the server answers the page's own requests (callbacks, layout) with
// 401 instead of redirecting them (a redirect would be read as an empty answer, and every
// click would silently do nothing). The page then goes to the login form, which brings the
// person back here (dwt_dashboard.auth: /login?next=<this path>).
(function () {
  "use strict";
  var original = window.fetch;
  var leaving = false;
  window.fetch = function () {
    var args = arguments;
    return original.apply(this, args).then(function (response) {
      var target = args[0] && args[0].url ? args[0].url : String(args[0]);
      if (response.status === 401 && !leaving && target.indexOf("/_dash-") !== -1) {
        leaving = true;
        var here = window.location.pathname + window.location.search;
        window.location.assign("/login?next=" + encodeURIComponent(here));
      }
      return response;
    });
  };
})();
