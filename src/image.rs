//! Image references, read the way the container runtime and the API server
//! read them: the repository (what the sidecar catalog and the operator's image
//! prefixes match) and the tag (what decides the default pull policy).

/// The repository of an image reference: no tag, no digest, no implicit Docker
/// Hub prefix. `docker.io/library/nginx:1.27` and `nginx` are both `nginx`.
pub fn repository(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    let name = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    };
    let name = name
        .strip_prefix("index.docker.io/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    name.strip_prefix("library/").unwrap_or(name)
}

/// The tag of an image reference as the API server reads it: `latest` when
/// there is neither tag nor digest, `None` for a digest without a tag.
pub fn tag(image: &str) -> Option<&str> {
    let (name, digest) = match image.split_once('@') {
        Some((name, _)) => (name, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest => None,
        None => Some("latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("nginx", "nginx")]
    #[case("docker.io/library/nginx:1.27", "nginx")]
    #[case("localhost:5000/team/app:v1@sha256:00", "localhost:5000/team/app")]
    #[case("localhost:5000/team/app", "localhost:5000/team/app")]
    fn repositories(#[case] image: &str, #[case] repo: &str) {
        assert_eq!(repository(image), repo);
    }

    #[rstest]
    #[case("nginx", Some("latest"))]
    #[case("nginx:1.27", Some("1.27"))]
    #[case("localhost:5000/app", Some("latest"))]
    #[case("localhost:5000/app:v1@sha256:00", Some("v1"))]
    #[case("app@sha256:00", None)]
    fn tags(#[case] image: &str, #[case] expected: Option<&str>) {
        assert_eq!(tag(image), expected);
    }
}
