//! Where a field is, for messages: `sidecars[0].container.image`,
//! `request.object.spec.containers[2]`. Built for every field read (of the
//! request and the settings, on every request; of the templates' Kubernetes
//! objects, when the policy loads), but only turned into text when a message
//! names the field.

use std::fmt;

#[derive(Clone, Copy)]
pub enum Path<'p> {
    Root(&'p str),
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(root) => f.write_str(root),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Path;

    #[test]
    fn a_path_reads_as_the_field_it_names() {
        let root = Path::Root("sidecars");
        let template = Path::Index(&root, 1);
        let container = Path::Key(&template, "container");
        assert_eq!(
            Path::Key(&container, "image").to_string(),
            "sidecars[1].container.image"
        );
    }
}
