#[test]
fn show() {
    let text = "[model]\nname = \"m\"\n\n[[layer]]\nkind = \"conv2d\"\nfiltrs = 3\n\n[[layer]]\nkind = \"x\"\n\n[train]\nloss = \"mse\"\n\n[train.optimizer]\nlr = 1\n";
    let s = onyx_compiler::spec::Source::new(std::path::Path::new("x.toml"), text.to_string());
    println!("{:#?}", s.tree);
    println!("{:?}", s.path_at(text.find("filtrs").unwrap()));
}
