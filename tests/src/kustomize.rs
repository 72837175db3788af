//! `kustomize build` for the part of kustomize that deploy/kubernetes/ uses, so the
//! deployment checks can read the manifests a cluster would get without kubectl.
//!
//! Supported: `resources` (files, possibly with several documents, and directories
//! holding a kustomization), `namespace`, `images` (`newName`, `newTag`, `digest`) and
//! `patches` given by `path`, each a strategic-merge patch naming its target by
//! apiVersion, kind and name. Anything else in a kustomization is an error, not ignored,
//! and so is a patch list whose merge key this module does not know: a wrong build here
//! would make the checks pass on manifests a cluster never sees. The deployment tests
//! compare the result with `kubectl kustomize` where kubectl is installed.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::scalar;

/// The kustomization keys this module understands.
const SUPPORTED_KEYS: &[&str] = &["apiVersion", "kind", "resources", "namespace", "images", "patches"];

/// Lists whose items a strategic-merge patch merges by a key rather than replaces, with
/// that key (from the Kubernetes API's `patchMergeKey`s). Only these may appear in a
/// patch; other lists of objects are refused (see the module comment).
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("env", "name"),
    ("volumes", "name"),
    ("volumeMounts", "mountPath"),
];

/// Kinds that live in no namespace: the namespace transformer leaves them alone, except
/// that kustomize renames a Namespace to the kustomization's namespace.
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
];

/// Kinds that refer to other objects by namespace, which kustomize rewrites and this
/// module does not.
const UNSUPPORTED_KINDS: &[&str] = &["RoleBinding", "ClusterRoleBinding", "ValidatingWebhookConfiguration"];

/// Every document of a YAML stream, empty ones skipped.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| format!("not valid YAML: {error}"))?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// The objects `kustomize build dir` would print, in the order their files list them.
pub fn build(dir: &Path) -> Result<Vec<Value>, String> {
    let file = kustomization_file(dir)?;
    let text = read(&file)?;
    let kustomization: Value = serde_yaml::from_str(&text).map_err(|error| format!("{}: {error}", file.display()))?;
    let mapping = kustomization
        .as_mapping()
        .ok_or_else(|| format!("{}: not a mapping", file.display()))?;
    for key in mapping.keys() {
        let key = scalar(key).unwrap_or_default();
        if !SUPPORTED_KEYS.contains(&key.as_str()) {
            return Err(format!(
                "{}: `{key}` is not in the kustomize subset the tests implement ({SUPPORTED_KEYS:?})",
                file.display()
            ));
        }
    }

    let mut objects = Vec::new();
    for resource in strings(&kustomization, "resources", &file)? {
        let path = dir.join(&resource);
        if path.is_dir() {
            objects.extend(build(&path)?);
        } else {
            let text = read(&path)?;
            objects.extend(documents(&text).map_err(|error| format!("{}: {error}", path.display()))?);
        }
    }
    for object in &objects {
        let kind = text_at(object, &["kind"]);
        if UNSUPPORTED_KINDS.contains(&kind.as_str()) {
            return Err(format!(
                "{}: {kind} is not supported by this kustomize subset",
                file.display()
            ));
        }
    }

    for patch in sequence(&kustomization, "patches", &file)? {
        let patch_mapping = patch
            .as_mapping()
            .ok_or_else(|| format!("{}: a patch is not a mapping", file.display()))?;
        if patch_mapping.len() != 1 || patch.get("path").is_none() {
            return Err(format!(
                "{}: only `- path: <file>` patches are supported, got {patch:?}",
                file.display()
            ));
        }
        let path = dir.join(scalar(&patch["path"]).unwrap_or_default());
        let text = read(&path)?;
        for patch in documents(&text).map_err(|error| format!("{}: {error}", path.display()))? {
            apply_patch(&mut objects, &patch).map_err(|error| format!("{}: {error}", path.display()))?;
        }
    }

    for image in sequence(&kustomization, "images", &file)? {
        let name = scalar(image.get("name").unwrap_or(&Value::Null))
            .ok_or_else(|| format!("{}: an image without a name", file.display()))?;
        for object in &mut objects {
            set_images(object, &name, image);
        }
    }

    if let Some(namespace) = kustomization.get("namespace") {
        let namespace = scalar(namespace).ok_or_else(|| format!("{}: namespace is not a string", file.display()))?;
        for object in &mut objects {
            let kind = text_at(object, &["kind"]);
            let metadata = object
                .get_mut("metadata")
                .and_then(Value::as_mapping_mut)
                .ok_or_else(|| format!("{}: an object without metadata", file.display()))?;
            let field = if kind == "Namespace" {
                "name"
            } else if CLUSTER_SCOPED.contains(&kind.as_str()) {
                continue;
            } else {
                "namespace"
            };
            metadata.insert(field.into(), Value::String(namespace.clone()));
        }
    }
    Ok(objects)
}

/// `kustomization.yaml`, `kustomization.yml` or `Kustomization` in `dir`.
fn kustomization_file(dir: &Path) -> Result<PathBuf, String> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("{} holds no kustomization", dir.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn sequence<'a>(kustomization: &'a Value, key: &str, file: &Path) -> Result<&'a [Value], String> {
    match kustomization.get(key) {
        None => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(_) => Err(format!("{}: `{key}` is not a list", file.display())),
    }
}

fn strings(kustomization: &Value, key: &str, file: &Path) -> Result<Vec<String>, String> {
    sequence(kustomization, key, file)?
        .iter()
        .map(|item| scalar(item).ok_or_else(|| format!("{}: `{key}` holds a non-string", file.display())))
        .collect()
}

/// The string at `path` in `object`, or empty.
fn text_at(object: &Value, path: &[&str]) -> String {
    let mut value = object;
    for part in path {
        match value.get(part) {
            Some(inner) => value = inner,
            None => return String::new(),
        }
    }
    scalar(value).unwrap_or_default()
}

/// Applies one strategic-merge patch to the one object it names.
fn apply_patch(objects: &mut [Value], patch: &Value) -> Result<(), String> {
    let identity = |object: &Value| {
        (
            text_at(object, &["apiVersion"]),
            text_at(object, &["kind"]),
            text_at(object, &["metadata", "name"]),
        )
    };
    let wanted = identity(patch);
    let namespace = text_at(patch, &["metadata", "namespace"]);
    let mut targets = objects.iter_mut().filter(|object| {
        identity(object) == wanted && (namespace.is_empty() || text_at(object, &["metadata", "namespace"]) == namespace)
    });
    let target = targets
        .next()
        .ok_or_else(|| format!("the patch for {wanted:?} matches no resource"))?;
    if targets.next().is_some() {
        return Err(format!("the patch for {wanted:?} matches more than one resource"));
    }
    merge(target, patch, "")
}

/// Strategic merge of `patch` into `target`: mappings merge key by key (`null` deletes),
/// lists in [`MERGE_KEYS`] merge item by item on their key, other values replace.
fn merge(target: &mut Value, patch: &Value, path: &str) -> Result<(), String> {
    let (Value::Mapping(target), Value::Mapping(patch)) = (&mut *target, patch) else {
        *target = checked(patch, path)?;
        return Ok(());
    };
    for (key, value) in patch {
        let name = scalar(key).unwrap_or_default();
        let here = format!("{path}/{name}");
        if name.starts_with('$') {
            return Err(format!("{here}: patch directives are not supported"));
        }
        if value.is_null() {
            target.remove(key);
            continue;
        }
        match (target.get_mut(key), value) {
            (Some(Value::Sequence(existing)), Value::Sequence(items)) if items.iter().any(Value::is_mapping) => {
                merge_list(existing, items, &name, &here)?;
            }
            (Some(existing), _) => merge(existing, value, &here)?,
            (None, _) => {
                target.insert(key.clone(), checked(value, &here)?);
            }
        }
    }
    Ok(())
}

/// Merges a list of objects by its merge key.
fn merge_list(existing: &mut Vec<Value>, items: &[Value], field: &str, path: &str) -> Result<(), String> {
    let key = MERGE_KEYS
        .iter()
        .find(|(list, _)| *list == field)
        .map(|(_, key)| *key)
        .ok_or_else(|| {
            format!("{path}: a patched list of objects whose merge key this kustomize subset does not know")
        })?;
    for item in items {
        let id = item
            .get(key)
            .ok_or_else(|| format!("{path}: an item without its merge key `{key}`"))?;
        match existing.iter_mut().find(|old| old.get(key) == Some(id)) {
            Some(old) => merge(old, item, &format!("{path}[{key}={}]", scalar(id).unwrap_or_default()))?,
            None => existing.push(checked(item, path)?),
        }
    }
    Ok(())
}

/// `value` as inserted by a patch: refused if it holds a patch directive.
fn checked(value: &Value, path: &str) -> Result<Value, String> {
    match value {
        Value::Mapping(mapping) => {
            for (key, item) in mapping {
                let name = scalar(key).unwrap_or_default();
                if name.starts_with('$') {
                    return Err(format!("{path}/{name}: patch directives are not supported"));
                }
                checked(item, &format!("{path}/{name}"))?;
            }
        }
        Value::Sequence(items) => {
            for item in items {
                checked(item, path)?;
            }
        }
        _ => {}
    }
    Ok(value.clone())
}

/// Applies an `images` entry to every container of `object` whose image is `name`.
fn set_images(object: &mut Value, name: &str, image: &Value) {
    match object {
        Value::Mapping(mapping) => {
            for (key, value) in mapping.iter_mut() {
                let field = scalar(key).unwrap_or_default();
                if matches!(field.as_str(), "containers" | "initContainers")
                    && let Value::Sequence(containers) = value
                {
                    for container in containers.iter_mut().filter_map(Value::as_mapping_mut) {
                        retag(container, name, image);
                    }
                } else {
                    set_images(value, name, image);
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                set_images(item, name, image);
            }
        }
        _ => {}
    }
}

fn retag(container: &mut Mapping, name: &str, image: &Value) {
    let Some(current) = container.get("image").and_then(scalar) else {
        return;
    };
    let (reference, digest) = match current.split_once('@') {
        Some((reference, digest)) => (reference.to_owned(), Some(digest.to_owned())),
        None => (current.clone(), None),
    };
    // A colon after the last slash starts the tag; one before it is a registry's port.
    let (repository, tag) = match reference.rfind(':') {
        Some(colon) if colon > reference.rfind('/').unwrap_or(0) => {
            (reference[..colon].to_owned(), Some(reference[colon + 1..].to_owned()))
        }
        _ => (reference.clone(), None),
    };
    if repository != name {
        return;
    }
    let field = |key: &str| image.get(key).and_then(scalar);
    let repository = field("newName").unwrap_or(repository);
    let new = match (field("digest"), field("newTag")) {
        (Some(digest), _) => format!("{repository}@{digest}"),
        (None, Some(tag)) => format!("{repository}:{tag}"),
        (None, None) => match (tag, digest) {
            (_, Some(digest)) => format!("{repository}@{digest}"),
            (Some(tag), None) => format!("{repository}:{tag}"),
            (None, None) => repository,
        },
    };
    container.insert("image".into(), Value::String(new));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn patches_merge_maps_and_containers_by_name_and_replace_scalars() {
        let mut objects = vec![yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n  paused: false\n  template:\n    spec:\n      containers:\n        - {name: x, image: i, args: [a, b], resources: {requests: {cpu: 1m}}}\n        - {name: y, image: j}\n",
        )];
        let patch = yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 3\n  paused: null\n  template:\n    spec:\n      containers:\n        - {name: x, args: [c], resources: {limits: {cpu: 2m}}}\n",
        );
        apply_patch(&mut objects, &patch).unwrap();
        let expected = yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - {name: x, image: i, args: [c], resources: {requests: {cpu: 1m}, limits: {cpu: 2m}}}\n        - {name: y, image: j}\n",
        );
        assert_eq!(objects[0], expected);
    }

    #[test]
    fn patches_must_name_exactly_one_target_and_known_lists() {
        let mut objects = vec![yaml(
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 1}]}\n",
        )];
        let elsewhere = yaml("apiVersion: v1\nkind: Service\nmetadata: {name: t}\nspec: {type: LoadBalancer}\n");
        assert!(apply_patch(&mut objects, &elsewhere).is_err());
        let unknown_list = yaml("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 2}]}\n");
        assert!(apply_patch(&mut objects, &unknown_list).is_err());
        let directive = yaml("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {$patch: replace}\n");
        assert!(apply_patch(&mut objects, &directive).is_err());
    }

    #[test]
    fn images_keep_what_they_do_not_set() {
        let mut container: Mapping = serde_yaml::from_str("{name: c, image: 'reg:5000/duban:dev'}").unwrap();
        retag(
            &mut container,
            "reg:5000/duban",
            &yaml("{name: reg:5000/duban, newTag: '1.0'}"),
        );
        assert_eq!(container["image"], "reg:5000/duban:1.0");
        retag(
            &mut container,
            "reg:5000/duban",
            &yaml("{name: reg:5000/duban, newName: other/duban}"),
        );
        assert_eq!(container["image"], "other/duban:1.0");
        retag(&mut container, "duban", &yaml("{name: duban, newTag: '2'}"));
        assert_eq!(container["image"], "other/duban:1.0", "another image is left alone");
    }

    #[test]
    fn the_namespace_is_set_on_namespaced_objects_and_renames_a_namespace() {
        let dir = std::env::temp_dir().join(format!("duban-kustomize-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "namespace: n\nresources: [objects.yaml]\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("objects.yaml"),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        )
        .unwrap();
        let objects = build(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text_at(&objects[0], &["metadata", "name"]), "n");
        assert_eq!(text_at(&objects[0], &["metadata", "namespace"]), "");
        assert_eq!(text_at(&objects[1], &["metadata", "namespace"]), "n");

        let refused = std::env::temp_dir().join(format!("duban-kustomize-refused-{}", std::process::id()));
        std::fs::create_dir_all(&refused).unwrap();
        std::fs::write(refused.join("kustomization.yaml"), "commonLabels: {a: b}\n").unwrap();
        let error = build(&refused).unwrap_err();
        std::fs::remove_dir_all(&refused).unwrap();
        assert!(error.contains("commonLabels"), "{error}");
    }
}
