//! The deployment examples under `examples/` (a Kubernetes Indexed Job and its merge, a
//! GitLab `parallel:` pipeline, a GitHub Actions matrix) are parsed and checked for what
//! patchgap relies on: as many shards as the engine runs, each shard's report where the
//! merge looks for it, the credentials mounted where the command line reads them, and every
//! patchgap command line accepted by the real argument parser.

use std::path::Path;

use clap::Parser as _;
use patchgap::cli::Cli;
use serde_yaml::Value;

fn documents(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

use serde::Deserialize as _;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(text).collect::<Vec<_>>().join(" "),
        Value::Number(n) => n.to_string(),
        other => panic!("expected text, found {other:?}"),
    }
}

/// The patchgap command lines in a shell script: from `patchgap` to the end of the
/// command (`;`, `||`, `&&`), with shell and template variables given sample values.
fn command_lines(script: &str) -> Vec<Vec<String>> {
    let mut lines = Vec::new();
    let mut rest = script;
    while let Some(start) = rest.find("patchgap ") {
        let command = &rest[start..];
        let end = ["; ", "||", "&&", "\n"]
            .iter()
            .filter_map(|stop| command.find(stop))
            .min()
            .unwrap_or(command.len());
        let words: Vec<String> = command[..end]
            .replace("${{ matrix.shard }}", "2")
            .replace("$JOB_COMPLETION_INDEX", "0")
            .replace("$CI_NODE_INDEX", "1")
            .split_whitespace()
            .map(|word| word.trim_matches('"').to_string())
            .collect();
        lines.push(words);
        rest = &command[end..];
    }
    lines
}

/// Every command line parses as patchgap's own parser reads it.
fn assert_parses(lines: &[Vec<String>], file: &str) {
    assert!(!lines.is_empty(), "{file}: no patchgap command found");
    for line in lines {
        if let Err(e) = Cli::try_parse_from(line) {
            panic!("{file}: `{}` is refused: {e}", line.join(" "));
        }
    }
}

fn flag_value<'a>(line: &'a [String], flag: &str) -> Option<&'a str> {
    line.iter()
        .position(|w| w == flag)
        .and_then(|i| line.get(i + 1))
        .map(String::as_str)
}

#[test]
fn the_kubernetes_indexed_job_shards_and_merges() {
    let audit = documents("kubernetes/audit-shards.yaml");
    let job = audit
        .iter()
        .find(|d| d["kind"] == "Job")
        .expect("a Job in audit-shards.yaml");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let completions = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(completions));
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    let script = text(&container["args"]);
    let lines = command_lines(&script);
    assert_parses(&lines, "audit-shards.yaml");
    let line = &lines[0];
    assert_eq!(
        flag_value(line, "--shard-count"),
        Some(completions.to_string().as_str()),
        "--shard-count must equal completions"
    );
    // Every file the command reads or writes is on a mounted volume of the right kind.
    let mounts = container["volumeMounts"].as_sequence().expect("mounts");
    let volume_of = |path: &str| -> Value {
        let mount = mounts
            .iter()
            .find(|m| path.starts_with(&text(&m["mountPath"])))
            .unwrap_or_else(|| panic!("{path} is on no mounted volume"));
        pod["volumes"]
            .as_sequence()
            .and_then(|v| v.iter().find(|v| v["name"] == mount["name"]))
            .cloned()
            .unwrap_or_else(|| panic!("no volume for {path}"))
    };
    for flag in ["-i", "--private-key"] {
        let path = flag_value(line, flag).expect(flag);
        assert!(
            volume_of(path).get("secret").is_some(),
            "{flag} {path} from a Secret"
        );
    }
    let known = flag_value(line, "--known-hosts").expect("--known-hosts");
    assert!(
        volume_of(known).get("configMap").is_some(),
        "known_hosts from a ConfigMap"
    );
    let output = flag_value(line, "-o").expect("-o");
    let claim = volume_of(output)["persistentVolumeClaim"]["claimName"].clone();
    assert!(!claim.is_null(), "results on a persistent volume");

    let merge = documents("kubernetes/merge.yaml");
    let job = merge
        .iter()
        .find(|d| d["kind"] == "Job")
        .expect("merge Job");
    let pod = &job["spec"]["template"]["spec"];
    let lines = command_lines(&text(&pod["containers"][0]["command"]));
    assert_parses(&lines, "merge.yaml");
    let expected: Vec<String> = (0..completions)
        .map(|index| output.replace("shard-0", &format!("shard-{index}")))
        .collect();
    let merged: Vec<String> = lines[0][2..2 + expected.len()].to_vec();
    assert_eq!(merged, expected, "the merge reads every shard's report");
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"], claim,
        "the merge mounts the shards' volume"
    );
}

#[test]
fn the_gitlab_pipeline_shards_and_merges() {
    let doc = &documents("gitlab-ci.yml")[0];
    let parallel = doc["audit"]["parallel"].as_u64().expect("parallel");
    let lines = command_lines(&text(&doc["audit"]["script"]));
    assert_parses(&lines, "gitlab-ci.yml");
    assert_eq!(flag_value(&lines[0], "--shard"), Some("auto"));
    assert_eq!(flag_value(&lines[0], "-o"), Some("shard-1.json"));
    assert_eq!(doc["merge"]["needs"][0], "audit");
    let merge = command_lines(&text(&doc["merge"]["script"]));
    assert_parses(&merge, "gitlab-ci.yml");
    let expected: Vec<String> = (1..=parallel).map(|k| format!("shard-{k}.json")).collect();
    assert_eq!(merge[0][2..2 + expected.len()].to_vec(), expected);
}

#[test]
fn the_github_matrix_shards_and_merges() {
    let doc = &documents("github/patchgap.yml")[0];
    let jobs = &doc["jobs"];
    let shards: Vec<u64> = jobs["audit"]["strategy"]["matrix"]["shard"]
        .as_sequence()
        .expect("matrix")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let count = shards.len() as u64;
    assert_eq!(shards, (1..=count).collect::<Vec<_>>());
    let steps = jobs["audit"]["steps"].as_sequence().expect("steps");
    let script: String = steps
        .iter()
        .filter_map(|s| s.get("run"))
        .map(text)
        .collect();
    let lines = command_lines(&script);
    assert_parses(&lines, "github/patchgap.yml");
    assert_eq!(
        flag_value(&lines[0], "--shard"),
        Some(format!("2/{count}").as_str())
    );
    assert_eq!(jobs["merge"]["needs"], "audit");
    let steps = jobs["merge"]["steps"].as_sequence().expect("steps");
    let script: String = steps
        .iter()
        .filter_map(|s| s.get("run"))
        .map(text)
        .collect();
    let merge = command_lines(&script);
    assert_parses(&merge, "github/patchgap.yml");
    let expected: Vec<String> = (1..=count).map(|k| format!("shard-{k}.json")).collect();
    assert_eq!(merge[0][2..2 + expected.len()].to_vec(), expected);
}
