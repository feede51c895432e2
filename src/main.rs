fn main() {
    use clap::Parser;
    let cli = adclr_wgpu::cli::Cli::parse();
    if let Err(e) = adclr_wgpu::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
