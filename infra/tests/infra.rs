//! The synthesized template, pinned: any change to the stack shows up as a reviewable diff of
//! `tests/snapshots/template.json` (regenerate it with `UPDATE_SNAPSHOTS=1 cargo test -p
//! store-infra`); and `provision` against the local AWS API server that `scripts/test.sh` starts.

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

/// Loads an env file into the apps' settings, and checks that each `NAME=value` line landed.
fn assert_every_line_reaches_the_settings(text: &str) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("stack.env");
    std::fs::write(&path, text).unwrap();
    let settings = store_runtime::BackendSettings {
        env_file: Some(path),
        ..store_runtime::BackendSettings::default()
    }
    .with_env_file()
    .unwrap();
    for (name, value) in store_runtime::settings::parse_env_file(text) {
        assert_eq!(
            settings.value_of(&name).as_deref(),
            Some(value.as_str()),
            "{name} is written for the apps but not read back"
        );
    }
}

#[test]
fn every_stack_output_lands_in_the_apps_settings() {
    use store_infra::synth::{OUTPUTS, env_file_from_outputs};
    let outputs: Vec<serde_json::Value> = OUTPUTS
        .iter()
        .map(|(key, _)| {
            let value = match *key {
                "LakeFormat" => "parquet".to_owned(),
                "Region" => "eu-west-1".to_owned(),
                _ => format!("v-{key}"),
            };
            serde_json::json!({"OutputKey": key, "OutputValue": value})
        })
        .collect();
    let text = env_file_from_outputs(&serde_json::json!(outputs)).unwrap();
    assert_eq!(text.lines().count(), OUTPUTS.len());
    assert_every_line_reaches_the_settings(&text);
}

fn moto_endpoint() -> String {
    std::env::var("STORE_TEST_AWS_ENDPOINT").expect(
        "STORE_TEST_AWS_ENDPOINT is not set: run `scripts/test.sh`, which starts moto_server",
    )
}

async fn moto_config() -> aws_config::SdkConfig {
    use aws_sdk_s3::config::Credentials;
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .load()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_of_more_than_1000_versions_and_markers_is_emptied_whole() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let config = moto_config().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let bucket = format!("empty-{}", std::process::id());
    s3.create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // 700 keys written twice (1,400 versions), 600 of them then deleted (600 markers): one
    // listing page holds 1,000 versions and up to 1,000 markers.
    let keys: Vec<String> = (0..700).map(|i| format!("ledger/x/{i:04}.json")).collect();
    for round in 0..2 {
        for chunk in keys.chunks(50) {
            let puts = chunk.iter().map(|k| {
                s3.put_object()
                    .bucket(&bucket)
                    .key(k)
                    .body(format!("{round}").into_bytes().into())
                    .send()
            });
            for r in futures::future::join_all(puts).await {
                r.unwrap();
            }
        }
    }
    for chunk in keys[..600].chunks(50) {
        let deletes = chunk
            .iter()
            .map(|k| s3.delete_object().bucket(&bucket).key(k).send());
        for r in futures::future::join_all(deletes).await {
            r.unwrap();
        }
    }
    let emptied = store_infra::empty::empty_bucket(&s3, &bucket)
        .await
        .unwrap();
    assert_eq!(emptied.deleted, 2000);
    assert!(emptied.calls >= 2, "{emptied:?}");
    let left = s3
        .list_object_versions()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(left.versions().is_empty() && left.delete_markers().is_empty());
    s3.delete_bucket().bucket(&bucket).send().await.unwrap();
}

#[tokio::test]
async fn provision_creates_every_data_resource_and_can_run_again() {
    let config = moto_config().await;
    let stack = format!("prov-{}", std::process::id());
    let options = store_infra::provision::ProvisionOptions {
        names: store_infra::stack::StackNames::new(&stack).unwrap(),
        readings_prefix: store_infra::stack::READINGS_PREFIX_EXPRESSION.into(),
    };
    let first = store_infra::provision::provision(&config, &options)
        .await
        .unwrap();
    let again = store_infra::provision::provision(&config, &options)
        .await
        .unwrap();
    assert_eq!(first, again, "provisioning again changes nothing");
    assert_every_line_reaches_the_settings(&first.env_file());

    let get = |name: &str| {
        first
            .settings
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let clients = store_aws::AwsClients::new(&config);
    let bucket = get("STORE_LAKE_BUCKET");
    let encryption = clients
        .s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(encryption.server_side_encryption_configuration().is_some());
    let block = clients
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));
    // Versioning is not read back: this moto answers GetBucketVersioning with a root element the
    // SDK does not accept.
    let rules = clients
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert_eq!(rules.rules().len(), 3);

    let stream = clients
        .firehose
        .describe_delivery_stream()
        .delivery_stream_name(get("STORE_DELIVERY_STREAM"))
        .send()
        .await
        .unwrap();
    let description = stream.delivery_stream_description().unwrap();
    assert_eq!(
        description.delivery_stream_name(),
        get("STORE_DELIVERY_STREAM")
    );

    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(get("STORE_ALERT_QUEUE_URL"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    let attribute = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes.get(&name).cloned().unwrap_or_default()
    };
    assert_eq!(
        attribute(aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout),
        store_infra::stack::ALERT_VISIBILITY_SECONDS.to_string()
    );
    assert!(
        attribute(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy).contains("alerts-dlq")
    );

    let glue = aws_sdk_glue::Client::new(&config);
    let table = glue
        .get_table()
        .database_name(get("STORE_GLUE_DATABASE"))
        .name("readings")
        .send()
        .await
        .unwrap();
    let table = table.table().unwrap();
    assert_eq!(table.partition_keys()[0].name(), "dt");
    assert_eq!(table.parameters().unwrap()["projection.enabled"], "true");
    assert_eq!(table.storage_descriptor().unwrap().columns().len(), 11);

    let athena = aws_sdk_athena::Client::new(&config);
    let workgroup = athena
        .get_work_group()
        .work_group(get("STORE_ATHENA_WORKGROUP"))
        .send()
        .await
        .unwrap();
    let configuration = workgroup.work_group().unwrap().configuration().unwrap();
    assert_eq!(configuration.enforce_work_group_configuration(), Some(true));
    assert!(
        configuration
            .result_configuration()
            .and_then(|r| r.output_location())
            .is_some_and(|o| o.ends_with("/athena-results/"))
    );
}
