//! `images`: rewrites container image names, tags and digests.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::Result;
use crate::kustomization::Image;
use crate::resmap::ResMap;
use crate::transformers::apply_specs;

/// Splits an image reference into name, tag and digest.
pub fn split_image(image: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..]), digest),
        None => (rest, None, digest),
    }
}

/// The new reference for `image` under `img`, or `None` if `img` does not match it.
pub fn rewrite(image: &str, img: &Image) -> Option<String> {
    let (name, tag, digest) = split_image(image);
    if name != img.name {
        return None;
    }
    let new_name = img
        .new_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .unwrap_or(name);
    let new_tag = img
        .new_tag
        .as_ref()
        .map(|t| t.0.as_str())
        .filter(|t| !t.is_empty());
    let new_digest = img.digest.as_deref().filter(|d| !d.is_empty());
    let mut out = new_name.to_string();
    match (new_tag, new_digest) {
        (_, Some(d)) => {
            if let Some(t) = new_tag {
                out.push(':');
                out.push_str(t);
            }
            out.push('@');
            out.push_str(d);
        }
        (Some(t), None) => {
            out.push(':');
            out.push_str(t);
        }
        (None, None) => {
            if let Some(t) = tag {
                out.push(':');
                out.push_str(t);
            }
            if let Some(d) = digest {
                out.push('@');
                out.push_str(d);
            }
        }
    }
    Some(out)
}

fn update(v: &mut Value, images: &[Image]) {
    if let Value::String(s) = v {
        for img in images {
            if let Some(n) = rewrite(s, img) {
                *s = n;
                return;
            }
        }
    }
}

fn legacy_walk(v: &mut Value, images: &[Image]) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if (k == "containers" || k == "initContainers")
                    && let Value::Array(items) = child
                {
                    for c in items.iter_mut() {
                        if let Some(img) = c.get_mut("image") {
                            update(img, images);
                        }
                    }
                }
                legacy_walk(child, images);
            }
        }
        Value::Array(a) => {
            for x in a {
                legacy_walk(x, images);
            }
        }
        _ => {}
    }
}

/// Applies every `images` entry to every resource.
pub fn set_images(rm: &mut ResMap, images: &[Image], cfg: &TransformerConfig) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    for img in images {
        if regex::Regex::new(&img.name).is_err() || img.name.is_empty() {
            return Err(crate::error::Error::Build(format!(
                "invalid image name '{}'",
                img.name
            )));
        }
    }
    let specs: Vec<_> = cfg
        .images
        .iter()
        .filter(|fs| !fs.path.contains("ontainers[]/image"))
        .map(|fs| {
            let mut f = fs.clone();
            f.create = false;
            f
        })
        .collect();
    for r in &mut rm.resources {
        legacy_walk(&mut r.obj, images);
        apply_specs(r, &specs, &mut |v| {
            update(v, images);
            Ok(())
        })?;
    }
    Ok(())
}
