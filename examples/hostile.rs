//! Writes the hostile bundle files of the test suite next to a good bundle, for
//! `scripts/bench-hostile.sh` to time: `cargo run --release --example hostile -- GOOD.tar DIR`.

#[path = "../tests/it/common/hostile_files.rs"]
mod hostile_files;

#[allow(clippy::print_stdout, clippy::print_stderr)] // a command-line generator for a script
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [good, dir] = args.as_slice() else {
        eprintln!("usage: hostile GOOD_BUNDLE DIR");
        std::process::exit(2);
    };
    std::fs::create_dir_all(dir).expect("the output folder can be created");
    let members = hostile_files::read_members(std::path::Path::new(good));
    for case in hostile_files::write_all(&members, std::path::Path::new(dir)) {
        println!("{} {} {} {}", case.path.display(), case.exit, case.code, case.name);
    }
}
