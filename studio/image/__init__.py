"""Image generation on diffusers: requests, pipelines, PNG settings, and the generator the Image tab and CLI use."""
