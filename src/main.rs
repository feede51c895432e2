use adclr_wgpu::cli::{Cli, Command, DeviceArgs};
use adclr_wgpu::gpu::AdapterChoice;
use clap::Parser;

fn choice(d: &DeviceArgs) -> AdapterChoice {
    AdapterChoice { backend: d.backend.clone(), adapter: d.adapter }
}

fn run(cli: Cli) -> adclr_wgpu::Result<()> {
    match cli.command {
        Command::Info { device } => {
            let report = adclr_wgpu::info::adapter_report(&choice(&device))?;
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        }
        Command::Bench { device, repeats, max_matmul } => {
            let report = adclr_wgpu::bench::kernel_bench(&choice(&device), repeats, max_matmul)?;
            println!("{report}");
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
