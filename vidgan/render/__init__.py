"""Using trained generators: framing, translation of frames, video render, folder translate, sampling."""
