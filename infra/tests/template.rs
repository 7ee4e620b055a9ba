//! The synthesized template, pinned: any change to the stack shows up as a reviewable diff of
//! `tests/snapshots/template.json`. Regenerate it with `UPDATE_SNAPSHOTS=1 cargo test -p store-infra`.

use std::path::PathBuf;

#[test]
fn the_template_matches_its_snapshot() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/template.json");
    let synthesized = store_infra::synth::template().to_json();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &synthesized).unwrap();
    }
    let pinned = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with UPDATE_SNAPSHOTS=1", path.display()));
    assert!(
        pinned == synthesized,
        "the template changed; review `store-infra synth` and update with UPDATE_SNAPSHOTS=1"
    );
}

#[test]
fn synthesizing_twice_gives_the_same_bytes() {
    assert_eq!(
        store_infra::synth::template().to_json(),
        store_infra::synth::template().to_json()
    );
}

#[test]
fn nothing_in_the_template_is_public_or_unencrypted() {
    let t: serde_json::Value =
        serde_json::from_str(&store_infra::synth::template().to_json()).unwrap();
    let resources = t["Resources"].as_object().unwrap();
    for (id, r) in resources {
        match r["Type"].as_str().unwrap() {
            "AWS::S3::Bucket" => {
                let block = &r["Properties"]["PublicAccessBlockConfiguration"];
                for k in [
                    "BlockPublicAcls",
                    "BlockPublicPolicy",
                    "IgnorePublicAcls",
                    "RestrictPublicBuckets",
                ] {
                    assert_eq!(block[k], true, "{id}: {k}");
                }
                assert!(
                    r["Properties"]["BucketEncryption"].is_object(),
                    "{id} is encrypted"
                );
            }
            "AWS::SQS::Queue" => assert_eq!(r["Properties"]["SqsManagedSseEnabled"], true, "{id}"),
            "AWS::Logs::LogGroup" => {
                assert!(r["Properties"]["RetentionInDays"].is_number(), "{id}")
            }
            "AWS::IAM::Role" => {
                let text = r["Properties"]["Policies"].to_string();
                assert!(!text.contains("\"*\""), "{id} grants nothing on `*`");
            }
            _ => {}
        }
    }
}
