"""Using trained generators: render and translate options, framing, the frame translator, output planning, video
render, folder translate, sampling."""
