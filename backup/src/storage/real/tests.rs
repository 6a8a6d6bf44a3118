//! What each URL turns into without a server (the only coverage `gs` gets: no GCS emulator
//! accepts object_store's uploads), the error mapping, the secret scrubbing and the provider's
//! refusals.

use super::builders::{self, GsCredentials};
use super::object::{map_error, status_code_for_test};
use super::{RealStorageOptions, RealStorageProvider, Secrets};
use crate::storage::url::{ExternalIoSettings, StorageUrl, UrlError};
use crate::storage::{StorageError, StorageProvider};
use object_store::aws::AmazonS3ConfigKey;
use object_store::azure::AzureConfigKey;
use object_store::gcp::GoogleConfigKey;
use object_store::ClientConfigKey;

const S3_SECRET: &str = "s3cr3t/with+chars";
const AZURE_KEY: &str = "YXp1cmUta2V5LXZhbHVlLXRoYXQtaXMtc2VjcmV0";

fn url(text: &str) -> StorageUrl {
    StorageUrl::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn b64(text: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[test]
fn s3_specified_credentials_endpoint_and_region() {
    let u = url(&format!(
        "s3://bucket/path/x?AWS_ACCESS_KEY_ID=AKID&AWS_SECRET_ACCESS_KEY={}&AWS_SESSION_TOKEN=tok&AWS_REGION=eu-west-3&AWS_ENDPOINT=http%3A%2F%2F127.0.0.1%3A9000",
        enc(S3_SECRET)
    ));
    let b = builders::s3(&u, &RealStorageOptions::default()).unwrap();
    let get = |k: AmazonS3ConfigKey| b.get_config_value(&k);
    assert_eq!(get(AmazonS3ConfigKey::Bucket).as_deref(), Some("bucket"));
    assert_eq!(get(AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("AKID"));
    assert_eq!(get(AmazonS3ConfigKey::SecretAccessKey).as_deref(), Some(S3_SECRET));
    assert_eq!(get(AmazonS3ConfigKey::Token).as_deref(), Some("tok"));
    assert_eq!(get(AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-3"));
    assert_eq!(get(AmazonS3ConfigKey::Endpoint).as_deref(), Some("http://127.0.0.1:9000"));
    assert_eq!(get(AmazonS3ConfigKey::VirtualHostedStyleRequest).as_deref(), Some("false"), "path-style");
    assert_eq!(get(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)).as_deref(), Some("true"), "http endpoint");
    assert!(b.build().is_ok());
}

#[test]
fn s3_defaults_to_us_east_1_and_https() {
    let u = url("s3://bucket?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b");
    let b = builders::s3(&u, &RealStorageOptions::default()).unwrap();
    assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Region).as_deref(), Some("us-east-1"));
    assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp)).as_deref(), Some("false"));
    assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Token), None);
}

#[test]
fn s3_implicit_takes_no_key_from_the_url_and_is_refused_when_disabled() {
    let u = url("s3://bucket?AUTH=implicit");
    let b = builders::s3(&u, &RealStorageOptions::default()).unwrap();
    assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Bucket).as_deref(), Some("bucket"));
    let off =
        RealStorageProvider::new(ExternalIoSettings { disable_implicit_credentials: true, ..ExternalIoSettings::default() }, RealStorageOptions::default());
    assert_eq!(off.open(&u, 1).err(), Some(StorageError::Refused(UrlError::ImplicitCredentialsDisabled)));
    let e = off.open(&u, 1).err().unwrap().to_string();
    assert_eq!(e, "implicit credentials disallowed");
}

#[test]
fn s3_custom_endpoint_is_refused_when_http_is_disabled() {
    let u = url("s3://b?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=b&AWS_ENDPOINT=https%3A%2F%2Fminio.local");
    let off = RealStorageProvider::new(ExternalIoSettings { disable_http: true, ..ExternalIoSettings::default() }, RealStorageOptions::default());
    assert_eq!(off.open(&u, 1).err(), Some(StorageError::Refused(UrlError::CustomEndpointDisabled)));
    let h = url("https://example.com/backups");
    assert_eq!(off.open(&h, 1).err(), Some(StorageError::Refused(UrlError::HttpDisabled)));
}

const GS_KEY_JSON: &str = r#"{"type": "service_account", "client_email": "b@p.iam.gserviceaccount.com", "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n", "private_key_id": "k1"}"#;

#[test]
fn gs_specified_decodes_credentials_into_the_service_account_key() {
    let u = url(&format!("gs://acme-co-backup/test-cluster?AUTH=specified&CREDENTIALS={}", enc(&b64(GS_KEY_JSON))));
    let settings = ExternalIoSettings::default();
    assert_eq!(builders::gs_credentials(&u, &RealStorageOptions::default(), &settings).unwrap(), GsCredentials::Key(GS_KEY_JSON.into()));
    let b = builders::gs(&u, &RealStorageOptions::default(), &settings).unwrap();
    assert_eq!(b.get_config_value(&GoogleConfigKey::Bucket).as_deref(), Some("acme-co-backup"));
    assert_eq!(b.get_config_value(&GoogleConfigKey::ServiceAccountKey).as_deref(), Some(GS_KEY_JSON));
    // The key is not a real one: building fails, and the error shows no part of it.
    let p = RealStorageProvider::new(settings, RealStorageOptions::default());
    match p.open(&u, 1) {
        Err(e) => {
            let text = e.to_string();
            assert!(!text.contains("not-a-real-key") && !text.contains(&b64(GS_KEY_JSON)[..20]), "{text}");
            assert!(text.contains("redacted") || text.contains("gs"), "{text}");
        }
        Ok(_) => panic!("a fake key must not build"),
    }
}

#[test]
fn gs_default_uses_the_default_key_setting_or_refuses() {
    let settings = ExternalIoSettings::default();
    let with_key = RealStorageOptions { gs_default_key: Some(GS_KEY_JSON.into()), ..RealStorageOptions::default() };
    let none = RealStorageOptions::default();
    let default = url("gs://b/p?AUTH=default");
    assert_eq!(builders::gs_credentials(&default, &with_key, &settings).unwrap(), GsCredentials::Key(GS_KEY_JSON.into()));
    let e = builders::gs_credentials(&default, &none, &settings).unwrap_err().to_string();
    assert!(e.contains("cloudstorage.gs.default.key"), "{e}");
    // No AUTH: the default key if set, implicit otherwise (refused when implicit is disabled).
    let bare = url("gs://b/p");
    assert_eq!(builders::gs_credentials(&bare, &with_key, &settings).unwrap(), GsCredentials::Key(GS_KEY_JSON.into()));
    assert_eq!(builders::gs_credentials(&bare, &none, &settings).unwrap(), GsCredentials::Implicit);
    let no_implicit = ExternalIoSettings { disable_implicit_credentials: true, ..ExternalIoSettings::default() };
    assert_eq!(builders::gs_credentials(&bare, &none, &no_implicit), Err(StorageError::Refused(UrlError::ImplicitCredentialsDisabled)));
    assert_eq!(builders::gs_credentials(&bare, &with_key, &no_implicit).unwrap(), GsCredentials::Key(GS_KEY_JSON.into()));
    let implicit = url("gs://b/p?AUTH=implicit");
    assert_eq!(builders::gs_credentials(&implicit, &with_key, &settings).unwrap(), GsCredentials::Implicit);
    let b = builders::gs(&implicit, &none, &settings).unwrap();
    assert_eq!(b.get_config_value(&GoogleConfigKey::Bucket).as_deref(), Some("b"));
}

#[test]
fn azure_account_key_and_emulator_endpoint() {
    let u = url(&format!("azure://container/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY={}", enc(AZURE_KEY)));
    let b = builders::azure(&u, &RealStorageOptions::default()).unwrap();
    assert_eq!(b.get_config_value(&AzureConfigKey::AccountName).as_deref(), Some("acct"));
    assert_eq!(b.get_config_value(&AzureConfigKey::ContainerName).as_deref(), Some("container"));
    assert_eq!(b.get_config_value(&AzureConfigKey::AccessKey).as_deref(), Some(AZURE_KEY));
    assert_eq!(b.get_config_value(&AzureConfigKey::Endpoint), None, "https://acct.blob.core.windows.net");
    let emu = RealStorageOptions { azure_endpoint: Some("http://127.0.0.1:10000/".into()), ..RealStorageOptions::default() };
    let b = builders::azure(&u, &emu).unwrap();
    assert_eq!(b.get_config_value(&AzureConfigKey::Endpoint).as_deref(), Some("http://127.0.0.1:10000/acct"));
    assert_eq!(b.get_config_value(&AzureConfigKey::Client(ClientConfigKey::AllowHttp)).as_deref(), Some("true"));
    assert!(b.build().is_ok());
}

#[test]
fn http_and_https_clients_and_the_custom_ca() {
    let opts = RealStorageOptions::default();
    assert!(builders::http(&url("http://127.0.0.1:8080/a/b"), &opts).unwrap().build().is_ok());
    assert!(builders::http(&url("https://example.com/a"), &opts).unwrap().build().is_ok());
    let bad_ca = RealStorageOptions { custom_ca_pem: Some(b"not a certificate".to_vec()), ..RealStorageOptions::default() };
    let e = builders::http(&url("https://example.com/a"), &bad_ca).unwrap_err().to_string();
    assert!(e.contains("custom root CA"), "{e}");
}

#[test]
fn errors_map_to_not_found_transient_and_permanent() {
    let secrets = Secrets::default();
    let boxed = |s: &str| -> Box<dyn std::error::Error + Send + Sync> { s.to_string().into() };
    let nf = object_store::Error::NotFound { path: "x".into(), source: boxed("gone") };
    assert!(map_error("x", nf, &secrets).is_not_found());
    let s503 = object_store::Error::Generic {
        store: "S3",
        source: boxed("Error performing PUT http://h/b/x in 1ms - Server returned non-2xx status code: 503 Service Unavailable: "),
    };
    assert!(map_error("x", s503, &secrets).is_retryable());
    let s429 = object_store::Error::Generic { store: "S3", source: boxed("Server returned non-2xx status code: 429 Too Many Requests: slow down") };
    assert!(map_error("x", s429, &secrets).is_retryable());
    let s400 = object_store::Error::Generic { store: "S3", source: boxed("Server returned non-2xx status code: 400 Bad Request: InvalidBucketName") };
    let e = map_error("x", s400, &secrets);
    assert!(!e.is_retryable() && !e.is_not_found(), "{e}");
    let denied = object_store::Error::PermissionDenied { path: "x".into(), source: boxed("403") };
    assert!(map_error("x", denied, &secrets).to_string().contains("permission denied"));
    let unauth = object_store::Error::Unauthenticated { path: "x".into(), source: boxed("401") };
    assert!(map_error("x", unauth, &secrets).to_string().contains("authentication failed"));
    let other = object_store::Error::Generic { store: "S3", source: boxed("unparseable XML") };
    assert!(!map_error("x", other, &secrets).is_retryable());
    assert_eq!(status_code_for_test("... status code: 502 Bad Gateway"), Some(502));
    assert_eq!(status_code_for_test("no status here"), None);
}

#[test]
fn secrets_are_scrubbed_from_library_and_server_text() {
    let u = url(&format!("s3://b?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY={}&AWS_SESSION_TOKEN=tok123", enc(S3_SECRET)));
    let secrets = Secrets::of(&u, &["extra-secret"]);
    let text = format!("signature for {S3_SECRET} and {} with tok123 and extra-secret", enc(S3_SECRET));
    let out = secrets.scrub(&text);
    assert!(!out.contains(S3_SECRET) && !out.contains(&enc(S3_SECRET)) && !out.contains("tok123") && !out.contains("extra-secret"), "{out}");
    assert_eq!(format!("{secrets:?}"), "Secrets(5 redacted)", "the token needs no encoding: counted once");
    let e = map_error("x", object_store::Error::Generic { store: "S3", source: format!("bad request echoing {S3_SECRET}").into() }, &secrets);
    assert!(!e.to_string().contains(S3_SECRET), "{e}");
}

#[test]
fn nodelocal_is_refused_for_other_nodes_and_when_disabled() {
    let dir = std::env::temp_dir().join(format!("backup-sim-unit-{}", std::process::id()));
    let p = RealStorageProvider::new(ExternalIoSettings { external_io_dir: Some(dir.clone()), ..ExternalIoSettings::default() }, RealStorageOptions::default());
    let e = p.open(&url("nodelocal://2/x"), 1).err().unwrap().to_string();
    assert!(e.contains("node 1") && e.contains("nodelocal://self"), "{e}");
    assert!(p.open(&url("nodelocal://1/x"), 1).is_ok());
    assert!(p.open(&url("nodelocal://self/x"), 1).is_ok());
    let off = RealStorageProvider::new(ExternalIoSettings { external_io_dir: None, ..ExternalIoSettings::default() }, RealStorageOptions::default());
    assert_eq!(off.open(&url("nodelocal://1/x"), 1).err(), Some(StorageError::Refused(UrlError::LocalFileAccessDisabled)));
    let _ = std::fs::remove_dir_all(dir);
}
