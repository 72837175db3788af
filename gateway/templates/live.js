(function(){
  if(!window.EventSource)return;
  var q=new URLSearchParams(location.search);var asOf=q.get('as_of')||'';
  var es=new EventSource('/api/v1/events'+(asOf?'?as_of='+encodeURIComponent(asOf):''));
  var first=true;
  es.addEventListener('overview',function(){
    if(first){first=false;return;}
    fetch(location.href,{credentials:'same-origin'}).then(function(r){return r.text();}).then(function(html){
      var doc=new DOMParser().parseFromString(html,'text/html');
      var fresh=doc.getElementById('main');if(fresh){document.getElementById('main').innerHTML=fresh.innerHTML;}
    });
  });
})();
