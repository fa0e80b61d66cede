"""Training labels are resized on the same pixel grid as their images (centre-aligned)."""

import torch

from benchmarks.data.transforms import resize_image, resize_label


def test_label_follows_the_area_resized_image_at_a_step_edge():
    # native width 12 -> 4: output pixel i covers native columns 3i .. 3i+2
    mask = torch.zeros(1, 1, 12, dtype=torch.uint8)
    mask[..., 7:] = 1  # edge inside output pixel 2 (native 6, 7, 8: two thirds foreground)
    image = mask.float()
    small_img = resize_image(image, (1, 4))[0, 0]
    small_lab = resize_label(mask, (1, 4))[0, 0]
    assert torch.allclose(small_img, torch.tensor([0.0, 0.0, 2 / 3, 1.0]))
    # the label takes the footprint's centre (native 7): foreground, like the image's majority
    assert small_lab.tolist() == [0, 0, 1, 1]
    assert torch.equal(small_lab, (small_img > 0.5).to(torch.uint8))


def test_centre_sampling_in_3d_and_identity():
    lab = (torch.arange(27).reshape(1, 3, 3, 3) % 3 == 1).to(torch.uint8)  # middle of each row
    assert resize_label(lab, (1, 1, 1)).item() == 1  # the centre voxel, not the corner
    assert torch.equal(resize_label(lab, (3, 3, 3)), lab)
