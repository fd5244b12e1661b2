dropnet::model! {}

fn main() {}
