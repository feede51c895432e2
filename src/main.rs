fn main() {
    use clap::FromArgMatches;
    let matches = adclr_wgpu::cli::help::command().get_matches();
    let cli = match adclr_wgpu::cli::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Err(e) = adclr_wgpu::cli::run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
