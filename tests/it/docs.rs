//! The documentation holds together: README.md stays the short page Artifact
//! Hub shows (and kwctl embeds), every page under docs/ is reachable from it,
//! and every link into the repository (relative, or the repository's own
//! GitHub address, which the README uses since Artifact Hub renders it
//! elsewhere) names a file that exists and, with `#anchor`, a heading in it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use regex::Regex;

/// Where the README's links into the repository point, so that they work on
/// Artifact Hub too.
const REPOSITORY_BLOB: &str = "https://github.com/native-sidecar-policy/native-sidecar-policy/blob/main/";
/// The same repository's folders.
const REPOSITORY_TREE: &str = "https://github.com/native-sidecar-policy/native-sidecar-policy/tree/main/";
const README_MAX_LINES: usize = 300;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md, CONTRIBUTING.md and every page under docs/, relative to the root.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md"), PathBuf::from("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|entry| PathBuf::from("docs").join(entry.expect("an entry").file_name()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The page's lines outside fenced code blocks (a `# comment` in a shell
/// example is not a heading, a `[x](y)` in a code sample not a link).
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchors for a page's headings: lower case, punctuation but `-`
/// and `_` dropped, spaces as hyphens, `-1`, `-2`… on repeats.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let slug: String = heading
            .trim()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                '-' | '_' => Some(c),
                c if c.is_alphanumeric() => Some(c),
                _ => None,
            })
            .flat_map(char::to_lowercase)
            .collect();
        let count = seen.entry(slug.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            slug.clone()
        } else {
            format!("{slug}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// `path` with `.` and `..` resolved, without touching the file system.
fn normalised(path: &Path) -> PathBuf {
    let mut parts: Vec<Component> = Vec::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(parts.last(), Some(Component::Normal(_))) => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect()
}

/// Every link of `page` into the repository: `(link as written, file
/// relative to the root, anchor)`. Markdown links (a destination may follow
/// `](` on the next line), reference definitions and HTML `href`s.
fn repository_links(page: &Path, text: &str) -> Vec<(String, PathBuf, Option<String>)> {
    let inline = Regex::new(r#"\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)"#).expect("regex");
    let reference = Regex::new(r"(?m)^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$").expect("regex");
    let html = Regex::new(r#"href="([^"]+)""#).expect("regex");
    let here = page.parent().unwrap_or(Path::new(""));
    let prose = prose(text).join("\n");
    let targets = inline
        .captures_iter(&prose)
        .chain(reference.captures_iter(&prose))
        .chain(html.captures_iter(&prose))
        .map(|captures| captures[1].to_owned());
    let mut links = Vec::new();
    for target in targets {
        let (file, anchor) = match target.split_once('#') {
            Some((file, anchor)) => (file.to_owned(), Some(anchor.to_owned())),
            None => (target.clone(), None),
        };
        let in_repository = file
            .strip_prefix(REPOSITORY_BLOB)
            .or_else(|| file.strip_prefix(REPOSITORY_TREE));
        let file = if let Some(in_repository) = in_repository {
            normalised(Path::new(in_repository))
        } else if file.contains("://") || file.starts_with("mailto:") {
            continue;
        } else if file.is_empty() {
            page.to_path_buf()
        } else {
            normalised(&here.join(&file))
        };
        links.push((target, file, anchor));
    }
    links
}

#[test]
fn every_link_into_the_repository_names_a_file_and_heading_that_exist() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(root().join(&page)).expect("a page");
        for (link, file, anchor) in repository_links(&page, &text) {
            let path = root().join(&file);
            // Out of the repository (`..` left after resolving), or missing.
            if file.components().any(|part| part == Component::ParentDir) || !path.exists() {
                broken.push(format!("{}: {link}: no file {}", page.display(), file.display()));
                continue;
            }
            if let Some(anchor) = anchor.filter(|_| file.extension().is_some_and(|ext| ext == "md")) {
                let target = std::fs::read_to_string(&path).expect("a page");
                if !anchors(&target).contains(&anchor) {
                    broken.push(format!(
                        "{}: {link}: no heading #{anchor} in {}",
                        page.display(),
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// Artifact Hub shows the README outside the repository, and kwctl embeds
/// it: its links into the repository are absolute.
#[test]
fn the_readme_is_short_and_its_links_work_outside_the_repository() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines (at most {README_MAX_LINES}): move detail to docs/"
    );
    let relative: Vec<String> = repository_links(Path::new("README.md"), &readme)
        .into_iter()
        .map(|(link, _, _)| link)
        .filter(|link| {
            ![REPOSITORY_BLOB, REPOSITORY_TREE, "#"]
                .iter()
                .any(|prefix| link.starts_with(prefix))
        })
        .collect();
    assert!(
        relative.is_empty(),
        "relative links break on Artifact Hub: {relative:?}"
    );
    for page in pages().iter().skip(1) {
        let address = format!("{REPOSITORY_BLOB}{}", page.display());
        assert!(
            readme.contains(&address),
            "README.md does not link to {}",
            page.display()
        );
    }
}

/// The checker itself, on what GitHub does.
#[test]
fn anchors_follow_githubs_rule() {
    let page = "# Catching a stripped `restartPolicy`\n## Jobs, and meshes (1.29+)\n## Jobs, and meshes (1.29+)\n```\n# not a heading\n```\n#not-one\n";
    assert_eq!(
        anchors(page),
        BTreeSet::from([
            "catching-a-stripped-restartpolicy".to_owned(),
            "jobs-and-meshes-129".to_owned(),
            "jobs-and-meshes-129-1".to_owned(),
        ])
    );
    let links = repository_links(
        Path::new("docs/injection.md"),
        "see [a](../README.md#x), [b](settings.md), [c](https://example.com/a.md), [d](#local)\n[e]: ./jobs.md\n\
         a [split](\nsettings.md#s), <a href=\"../x.md\">x</a>, \
         [up](https://github.com/native-sidecar-policy/native-sidecar-policy/blob/main/docs/../../elsewhere/f.md), \
         [tree](https://github.com/native-sidecar-policy/native-sidecar-policy/tree/main/policies)\n",
    );
    let files: Vec<(PathBuf, Option<String>)> = links
        .into_iter()
        .map(|(_, file, anchor)| (file, anchor))
        .collect();
    assert_eq!(
        files,
        [
            (PathBuf::from("README.md"), Some("x".to_owned())),
            (PathBuf::from("docs/settings.md"), None),
            (PathBuf::from("docs/injection.md"), Some("local".to_owned())),
            (PathBuf::from("docs/settings.md"), Some("s".to_owned())),
            (PathBuf::from("../elsewhere/f.md"), None),
            (PathBuf::from("policies"), None),
            (PathBuf::from("docs/jobs.md"), None),
            (PathBuf::from("x.md"), None),
        ]
    );
}
