//! Fuzz target: the IR text parser. Any text must parse or fail without a panic;
//! text that parses must print and parse back to the same graph (`parse(print(g)) ==
//! g`, compared as printed text so NaN constants compare equal), and verifying it
//! must not panic either.
#![no_main]

use kiln_ir::parse::parse;
use kiln_ir::print::print;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(graph) = parse(text) else {
        return;
    };
    let _ = kiln_ir::verify::verify(&graph);
    let printed = print(&graph);
    let back = match parse(&printed) {
        Ok(back) => back,
        Err(e) => panic!("printed text of a parsed graph does not parse: {e}\n{printed}"),
    };
    assert_eq!(
        print(&back),
        printed,
        "print → parse → print changed the text"
    );
});
