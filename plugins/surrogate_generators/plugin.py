"""Entry point of the generator families (import paths: listing plugins never imports torch)."""

from surrogate import hookimpl


@hookimpl
def register_surrogates(register):
    register("vae", "surrogate_generators.vae:VAE")
    register("flow", "surrogate_generators.flow:Flow")
    register("gan", "surrogate_generators.gan:GAN")
    register("diffusion", "surrogate_generators.diffusion:Diffusion")
    register("twostage", "surrogate_generators.twostage:TwoStage")
    register("student", "surrogate_generators.student:Student")


@hookimpl
def register_commands(register):
    register("compare", "surrogate_generators.cli:add_parser")
