// Live refresh of the overview: each overview event after the first reloads the page's main part in place.
// `data-live` on <html> says how the page is kept current (the header shows it): `off` without
// EventSource, `connecting`, `open`, or `closed` once the stream ended (for example at sign-out).
(function(){
  var root=document.documentElement;
  if(!window.EventSource){root.dataset.live='off';return;}
  root.dataset.live='connecting';
  var q=new URLSearchParams(location.search);var asOf=q.get('as_of')||'';
  var es=new EventSource('/api/v1/events'+(asOf?'?as_of='+encodeURIComponent(asOf):''));
  var first=true;
  es.addEventListener('open',function(){root.dataset.live='open';});
  es.addEventListener('error',function(){root.dataset.live=es.readyState===EventSource.CLOSED?'closed':'connecting';});
  es.addEventListener('overview',function(){
    if(first){first=false;return;}
    fetch(location.href,{credentials:'same-origin'}).then(function(r){
      // Sent to the login form: the session ended, so go there rather than draw it inside the page.
      if(r.redirected){location.assign(r.url);return null;}
      return r.text();
    }).then(function(html){
      if(html===null)return;
      var doc=new DOMParser().parseFromString(html,'text/html');
      var fresh=doc.getElementById('main');if(fresh){document.getElementById('main').innerHTML=fresh.innerHTML;}
    });
  });
})();
