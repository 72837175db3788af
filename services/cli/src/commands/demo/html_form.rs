//! The forms of a page the gateway drew, read as a browser submits them: each form's `action`
//! and the values of its successful controls (HTML §4.10.21.4), so that the demo posts what the
//! page itself holds (its request id, etag and CSRF token, what it was filled with) and changes
//! only what a clerk would type.
//!
//! A small reader of the tags the gateway writes (askama templates, well-formed, attributes
//! quoted), not a general HTML parser: comments, `<script>` and `<style>` content are skipped;
//! `<input>`, `<select>`/`<option>`, `<textarea>` and `<button>` are read inside `<form>`.

use std::collections::BTreeMap;

/// One form of a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HtmlForm {
    /// The `<form>` tag's attributes (`action`, `method`, `id`, `enctype`).
    pub(crate) attributes: BTreeMap<String, String>,
    /// The successful controls' names and values, in document order (a name may repeat).
    pub(crate) fields: Vec<(String, String)>,
    /// The names of its file inputs, which the sender fills with a file.
    pub(crate) files: Vec<String>,
}

impl HtmlForm {
    /// The attribute `name` of the `<form>` tag, or empty.
    pub(crate) fn attribute(&self, name: &str) -> &str {
        self.attributes.get(name).map_or("", String::as_str)
    }

    /// The first value of the field `name`.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Sets the field `name` to `value`, as typing into it would: the first such field gets the
    /// value (others of the name go), or a new field is added.
    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.fields.iter().position(|(n, _)| n == name) {
            Some(at) => {
                self.fields[at].1 = value;
                let mut index = 0;
                self.fields.retain(|(n, _)| {
                    index += 1;
                    index - 1 == at || n != name
                });
            }
            None => self.fields.push((name.to_owned(), value)),
        }
    }

    /// Drops the field `name`, as unticking a checkbox does.
    pub(crate) fn remove(&mut self, name: &str) {
        self.fields.retain(|(n, _)| n != name);
    }
}

/// The `<select>` being read: its name, whether it is `multiple`, and its options so far (value,
/// whether marked `selected`).
type OpenSelect = (String, bool, Vec<(String, bool)>);

/// Every form of `html`, in document order.
pub(crate) fn forms(html: &str) -> Vec<HtmlForm> {
    let mut forms = Vec::new();
    let mut current: Option<HtmlForm> = None;
    let mut select: Option<OpenSelect> = None;
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        if let Some(comment) = rest.strip_prefix("<!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some((tag, after)) = read_tag(rest) else {
            rest = &rest[1..];
            continue;
        };
        rest = after;
        match (tag.name.as_str(), tag.closing) {
            ("script" | "style", false) => {
                let close = format!("</{}", tag.name);
                rest = rest.find(&close).map_or("", |end| &rest[end..]);
            }
            ("form", false) => {
                current = Some(HtmlForm {
                    attributes: tag
                        .attributes
                        .into_iter()
                        .map(|(k, v)| (k, v.unwrap_or_default()))
                        .collect(),
                    fields: Vec::new(),
                    files: Vec::new(),
                });
            }
            ("form", true) => forms.extend(current.take()),
            ("input", false) => {
                if let Some(form) = current.as_mut() {
                    if tag.get("type").is_some_and(|t| t.eq_ignore_ascii_case("file")) {
                        form.files.extend(tag.enabled_name());
                    } else if let Some(field) = input_value(&tag) {
                        form.fields.push(field);
                    }
                }
            }
            ("textarea", false) => {
                let end = rest.find("</textarea").unwrap_or(rest.len());
                // A line break right after the start tag is not part of the value (HTML §13.2).
                let text = rest[..end].strip_prefix('\n').unwrap_or(&rest[..end]);
                if let Some(form) = current.as_mut()
                    && let Some(name) = tag.enabled_name()
                {
                    form.fields.push((name, unescape(text)));
                }
                rest = &rest[end..];
            }
            ("select", false) => select = tag.enabled_name().map(|name| (name, tag.has("multiple"), Vec::new())),
            ("option", false) => {
                if let Some((_, _, options)) = select.as_mut() {
                    let value = match tag.get("value") {
                        Some(value) => value.to_owned(),
                        None => unescape(rest[..rest.find('<').unwrap_or(rest.len())].trim()),
                    };
                    options.push((value, tag.has("selected")));
                }
            }
            ("select", true) => {
                if let (Some(form), Some((name, multiple, options))) = (current.as_mut(), select.take()) {
                    let chosen: Vec<&String> = options.iter().filter(|(_, s)| *s).map(|(v, _)| v).collect();
                    match (chosen.as_slice(), multiple) {
                        // A single select with nothing marked shows, and sends, its first option.
                        ([], false) => form.fields.extend(options.first().map(|(v, _)| (name, v.clone()))),
                        ([.., last], false) => form.fields.push((name, (*last).clone())),
                        (all, true) => form.fields.extend(all.iter().map(|v| (name.clone(), (*v).clone()))),
                    }
                }
            }
            _ => {}
        }
    }
    forms
}

/// The form of `html` whose attribute `name` is `value` (`id="report-form"`, `action="/my/upload"`).
pub(crate) fn form_with(html: &str, name: &str, value: &str) -> Option<HtmlForm> {
    forms(html).into_iter().find(|f| f.attribute(name) == value)
}

/// The field an `<input>` contributes, if any: text-like inputs always, checkboxes and radios
/// when checked (`on` without a value); buttons, files and disabled or nameless inputs never.
fn input_value(tag: &Tag) -> Option<(String, String)> {
    let name = tag.enabled_name()?;
    let kind = tag.get("type").unwrap_or("text").to_ascii_lowercase();
    let value = tag.get("value").unwrap_or_default().to_owned();
    match kind.as_str() {
        "submit" | "button" | "reset" | "image" | "file" => None,
        "checkbox" | "radio" => tag.has("checked").then(|| {
            (
                name,
                if tag.get("value").is_some() {
                    value
                } else {
                    "on".to_owned()
                },
            )
        }),
        _ => Some((name, value)),
    }
}

/// A start or end tag: its lower-case name and attributes (`None` for a bare one like `checked`).
#[derive(Debug)]
struct Tag {
    name: String,
    closing: bool,
    attributes: Vec<(String, Option<String>)>,
}

impl Tag {
    fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or_default())
    }

    fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|(n, _)| n == name)
    }

    /// The control's name, unless it has none or is disabled (then it sends nothing).
    fn enabled_name(&self) -> Option<String> {
        let name = self.get("name").filter(|n| !n.is_empty())?;
        (!self.has("disabled")).then(|| name.to_owned())
    }
}

/// The tag at the start of `text` (which starts with `<`), and what follows it.
fn read_tag(text: &str) -> Option<(Tag, &str)> {
    let mut rest = text.strip_prefix('<')?;
    let closing = rest.starts_with('/');
    if closing {
        rest = &rest[1..];
    }
    let name_end = rest.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let name = rest[..name_end].to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    rest = &rest[name_end..];
    let mut attributes = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix('>') {
            return Some((
                Tag {
                    name,
                    closing,
                    attributes,
                },
                after,
            ));
        }
        if let Some(after) = rest.strip_prefix("/>") {
            return Some((
                Tag {
                    name,
                    closing,
                    attributes,
                },
                after,
            ));
        }
        if rest.starts_with('/') {
            rest = &rest[1..];
            continue;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')?;
        if end == 0 {
            return None;
        }
        let attribute = rest[..end].to_ascii_lowercase();
        rest = rest[end..].trim_start();
        let value = if let Some(after) = rest.strip_prefix('=') {
            let after = after.trim_start();
            let (value, remaining) = match after.chars().next()? {
                quote @ ('"' | '\'') => {
                    let inner = &after[1..];
                    let close = inner.find(quote)?;
                    (&inner[..close], &inner[close + 1..])
                }
                _ => {
                    let close = after
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(after.len());
                    (&after[..close], &after[close..])
                }
            };
            rest = remaining;
            Some(unescape(value))
        } else {
            None
        };
        attributes.push((attribute, value));
    }
}

/// Text with its character references replaced: the named ones a template escapes with
/// (`&amp;` `&lt;` `&gt;` `&quot;` `&apos;` `&nbsp;`) and numeric ones; anything else stays.
pub(crate) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..].find(';').map(|e| e + 1).filter(|e| *e <= 10);
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let number = entity.strip_prefix('#')?;
                    let code = match number.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => number.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The text of every element of `html` whose `attribute` is `value` (for `class`: one of its
/// classes is), tags removed: the violations and banners a refused form shows, for an error message.
pub(crate) fn texts_where(html: &str, attribute: &str, value: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let Some((tag, after)) = read_tag(rest) else {
            rest = &rest[1..];
            continue;
        };
        rest = after;
        let given = tag.get(attribute).unwrap_or_default();
        let matches = if attribute == "class" {
            given.split_whitespace().any(|c| c == value)
        } else {
            given == value
        };
        if !tag.closing && matches {
            let close = format!("</{}", tag.name);
            let end = rest.find(&close).unwrap_or(rest.len());
            let text = strip_tags(&rest[..end]);
            if !text.is_empty() {
                found.push(text);
            }
        }
    }
    found
}

/// `html` as text: tags dropped, references replaced, white space folded.
fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        text.push_str(&rest[..start]);
        text.push(' ');
        rest = rest[start..].find('>').map_or("", |end| &rest[start + end + 1..]);
    }
    text.push_str(rest);
    unescape(&text).split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<html><head><script>var a = "<form>";</script></head><body>
<form method="post" action="/logout" id="logout"><input type="hidden" name="csrf" value="s3cr&#x27;t"><button type="submit">退出</button></form>
<!-- <form action="/commented"></form> -->
<form method="post" action="/my/obligations/4.1/2023-12" id="report-form" class="report-form">
<input type="hidden" name="csrf" value="s3cr&#x27;t"><input type="hidden" name="request_id" value="r-1"><input type="hidden" name="etag" value="&quot;2-submitted&quot;">
<select name="overall_status" id="overall_status"><option value="1">未启动</option><option value="2" selected>按计划推进</option></select>
<label class="check"><input type="checkbox" name="provisional" value="on" checked> 快报</label>
<label class="check"><input type="checkbox" name="other"> x</label>
<input type="text" inputmode="decimal" name="value.new-enterprises" id="value.new-enterprises" value="3200" autocomplete="off">
<input type="text" name="disabled" value="x" disabled>
<select name="blocker.0.action"><option value="keep">保持</option><option value="resolve">解决</option></select>
<select name="ms.m1.status"><option>0</option></select>
<input type="url" name="evidence.0.url" value="https://example.org/a?b=1&amp;c=2" placeholder="https://">
<textarea name="narrative" id="narrative" rows="6">
1&lt;2 推进中
</textarea>
<button type="submit" name="action" value="check" id="check">检查</button><input type="file" name="f">
</form>
<p class="violations"><span class="violation">必填 &amp; 数字</span></p>
</body></html>"#;

    #[test]
    fn a_form_is_read_as_a_browser_submits_it() {
        let all = forms(PAGE);
        assert_eq!(all.len(), 2, "the commented and scripted forms are not forms: {all:?}");
        assert_eq!(all[0].attribute("action"), "/logout");
        let form = form_with(PAGE, "id", "report-form").unwrap();
        assert_eq!(form.attribute("action"), "/my/obligations/4.1/2023-12");
        let fields: Vec<(&str, &str)> = form.fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            fields,
            [
                ("csrf", "s3cr't"),
                ("request_id", "r-1"),
                ("etag", "\"2-submitted\""),
                ("overall_status", "2"),
                ("provisional", "on"),
                ("value.new-enterprises", "3200"),
                ("blocker.0.action", "keep"),
                ("ms.m1.status", "0"),
                ("evidence.0.url", "https://example.org/a?b=1&c=2"),
                ("narrative", "1<2 推进中\n"),
            ]
        );
        assert_eq!(form.files, ["f"]);
    }

    #[test]
    fn typing_changes_fields_and_unticking_drops_them() {
        let mut form = form_with(PAGE, "id", "report-form").unwrap();
        form.set("value.new-enterprises", "3300");
        form.set("action", "submit");
        form.remove("provisional");
        assert_eq!(form.value("value.new-enterprises"), Some("3300"));
        assert_eq!(form.value("action"), Some("submit"));
        assert_eq!(form.value("provisional"), None);
        form.fields.push(("x".into(), "1".into()));
        form.fields.push(("x".into(), "2".into()));
        form.set("x", "3");
        assert_eq!(form.fields.iter().filter(|(n, _)| n == "x").count(), 1);
        assert_eq!(form.value("x"), Some("3"));
    }

    #[test]
    fn references_and_classes_are_read() {
        assert_eq!(
            unescape("a &amp; b &lt;c&gt; &#20013;&#x6587; &bogus; &"),
            "a & b <c> 中文 &bogus; &"
        );
        assert_eq!(texts_where(PAGE, "class", "violation"), ["必填 & 数字"]);
        assert_eq!(texts_where(PAGE, "class", "violations"), ["必填 & 数字"]);
        assert_eq!(texts_where(PAGE, "id", "check"), ["检查"]);
    }
}
