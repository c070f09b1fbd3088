//! `GET /v1/openapi.json` from a real `cally serve` process: the document is
//! served without a key as OpenAPI 3.x JSON, declares the bearer-key scheme,
//! and documents every endpoint the README's API section names or calls (the
//! role matrix, the prose and the walkthrough's curl lines), each with the
//! method the README uses and a key requirement.

use serde_json::Value;

use crate::serve_process::ServeProcess;

/// The README's API section: from `## The HTTP API` to the next `## ` heading.
fn readme_api_section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("## The HTTP API")
        .expect("the README has an HTTP API section");
    let rest = &readme[start + 3..];
    let end = rest.find("\n## ").map_or(rest.len(), |i| i + 1);
    rest[..end].to_owned()
}

/// The `/v1/...` path that starts `text`, without a query string.
fn path_at(text: &str) -> String {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "/_-.{}".contains(c)))
        .unwrap_or(text.len());
    text[..end].trim_end_matches('.').to_owned()
}

/// Every (method, path) the README's API section uses: `` `POST /v1/...` ``
/// in the role matrix and prose, and every curl line's `$URL/v1/...` (with its
/// `-X` method, GET without one).
fn readme_endpoints() -> Vec<(String, String)> {
    let section = readme_api_section();
    let mut found = Vec::new();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        let marker = format!("{method} /v1/");
        for (at, _) in section.match_indices(&marker) {
            found.push((
                method.to_owned(),
                path_at(&section[at + method.len() + 1..]),
            ));
        }
    }
    for line in section
        .lines()
        .filter(|l| l.trim_start().starts_with("curl "))
    {
        let Some(at) = line.find("$URL/v1/") else {
            continue;
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let method = words
            .iter()
            .position(|w| *w == "-X")
            .map_or("GET", |i| words[i + 1]);
        found.push((method.to_owned(), path_at(&line[at + "$URL".len()..])));
    }
    found.sort();
    found.dedup();
    found
}

/// Whether the concrete or templated `path` is an instance of `template`.
fn matches(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

#[tokio::test]
async fn the_openapi_document_covers_every_endpoint_the_readme_uses() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    // Killed when dropped, at the end of the test.
    let server = ServeProcess::start(["--bind", "127.0.0.1:0", "--data-dir", data_dir]);
    let response = reqwest::get(format!("{}/v1/openapi.json", server.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without a key");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let document: Value = response.json().await.unwrap();

    let version = document["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "OpenAPI 3.x, got {version}");
    assert_eq!(document["info"]["title"], "Cally");
    assert!(document["info"]["version"].is_string());

    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    let bearer: Vec<&String> = schemes
        .iter()
        .filter(|(_, s)| s["type"] == "http" && s["scheme"] == "bearer")
        .map(|(name, _)| name)
        .collect();
    assert_eq!(bearer.len(), 1, "one bearer scheme: {schemes:?}");
    let bearer = bearer[0];

    let paths = document["paths"].as_object().expect("paths");
    let endpoints = readme_endpoints();
    assert!(
        endpoints.len() >= 30,
        "the README's API section names only {endpoints:?}"
    );
    for (method, path) in &endpoints {
        let documented = paths
            .iter()
            .filter(|(template, _)| matches(template, path))
            .find_map(|(template, item)| {
                item.get(method.to_lowercase())
                    .map(|op| (template.clone(), op))
            });
        let Some((template, operation)) = documented else {
            panic!("the README uses {method} {path}, which the OpenAPI document does not show");
        };
        let keyed = operation["security"]
            .as_array()
            .is_some_and(|requirements| requirements.iter().any(|r| r.get(bearer).is_some()));
        let public = ["/healthz", "/metrics", "/v1/openapi.json"].contains(&template.as_str());
        assert_eq!(
            keyed, !public,
            "{method} {template}: a bearer key is required exactly when the endpoint is not public"
        );
    }
}
