//! A bundle file as `migrate import` and `migrate verify` read it: the streaming archive reader
//! (tar, or gzip-compressed tar), the admission of its manifest and signature, then the check of
//! every member against the manifest. Errors are expected; a panic, abort, timeout or running out
//! of memory is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use migrate::archive;
use migrate::core::verify;

fuzz_target!(|data: &[u8]| {
    let read = archive::read(data, |head: archive::Head| {
        verify::admit(head.manifest, head.signature, archive::is_safe_member_path)
    });
    if let Ok((admission, members)) = read {
        let _ = verify::finish(admission, members);
    }
});
