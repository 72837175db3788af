// The report form checks itself with the server: when a field is left (its value changed), the form
// is posted with action=check (SubmitReport with validate_only, nothing stored), and each violation
// the server found is put beside its field. Nothing is judged here: the server decides.
(function(){
  var form=document.getElementById('report-form');
  if(!form||!window.fetch||!window.URLSearchParams)return;
  var pending=null;
  function check(){
    var body=new URLSearchParams(new FormData(form));
    body.set('action','check');
    var sent=pending={};
    form.dataset.checking='true';
    // The form's own `action` property is its buttons named "action": read the attribute.
    fetch(form.getAttribute('action'),{method:'POST',body:body,credentials:'same-origin'}).then(function(r){
      if(r.redirected){location.assign(r.url);return null;}
      return r.text();
    }).then(function(html){
      if(html===null||sent!==pending)return;
      var doc=new DOMParser().parseFromString(html,'text/html');
      var fresh={};
      doc.querySelectorAll('.violations').forEach(function(el){fresh[el.dataset.for]=el.innerHTML;});
      form.querySelectorAll('.violations').forEach(function(el){el.innerHTML=fresh[el.dataset.for]||'';});
      var problems=doc.getElementById('form-problems');
      if(problems){document.getElementById('form-problems').innerHTML=problems.innerHTML;}
      form.dataset.checking='done';
    }).catch(function(){form.dataset.checking='failed';});
  }
  form.addEventListener('change',check);
})();
